"""scgan_lightning: SCGAN real-world face super-resolution with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
