"""Inference: ``FaceRestorer`` (restorer.py), the object every caller restores faces through,
and the parts it is made of: the engine, run settings by measurement, face and photo modes,
inputs, writers, the prediction job, export and the Lightning predict path.

Nothing here knows Hydra; the entry points (``scgan_lightning.cli``) build plain options and
call in.
"""

from .restorer import FaceRestorer, RestoredFace

__all__ = ["FaceRestorer", "RestoredFace"]
