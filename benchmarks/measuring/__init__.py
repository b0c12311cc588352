"""What the benchmark commands measure with, one job per module; ``cpu.py``, ``gpu.py`` and
``auto_speed.py`` are the command lines and reports, and format nothing here.

- ``batches``: the shared inputs (real faces or random pixels, fixed in-memory batches);
- ``released_step``: the released training step written plainly, the baseline;
- ``trainer_runs``: the module under a real Trainer, timed by callbacks;
- ``machine``: the machine's description, peak memory, CPU seconds;
- ``variants``: the CPU benchmark's training variants, one fresh process each;
- ``kernels``: the convolution ceiling and the FLOPs of a step and of a face;
- ``predict_runs``: prediction end to end against the batch-1 loop, and output fidelity;
- ``fidelity``: bf16 against float32 training losses.
"""
