"""The inference engine: inputs, the restore engine, face mode, photo mode and writers.

Nothing here knows Hydra; the entry points (``predict``, ``evaluate``, ``export``) build plain
options and call in. Import the submodules directly (``scgan_lightning.inference.engine``).
"""
