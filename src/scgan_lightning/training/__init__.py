"""Training: the SCGAN LightningModule, its losses, EMA, NaN/inf step guard, callbacks and
preemption handling. Import the submodules directly (``scgan_lightning.training.module``)."""
