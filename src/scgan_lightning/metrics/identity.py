"""Identity distance: how far a restored face drifts from the person in its HR ground truth.

dlib's face descriptor (a 128-d ResNet embedding; two photos of one person lie under 0.6 apart)
of SR and HR, each resized to 150x150, with the whole crop taken as the face box and dlib's
5-point landmarks (CC0, like the descriptor model) placing it. Both come from the PyPI wheels
``dlib-bin`` and ``face-recognition-models``, the optional ``identity`` extra: nothing is
fetched. Measured with this code on ``faces_hr/val`` crops: the same face after a 64 -> 150
resize lies 0.11 from its original, two different people 0.84 apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..dlib_models import import_dlib, model_file
from ..imaging import resize, to_uint8

DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
CHIP_SIZE = 150


class IdentityDistance:
    """Euclidean distance between dlib descriptors of paired faces (lower: same person)."""

    def __init__(self, models_dir: str | Path | None = None) -> None:
        dlib = import_dlib("identity distance")
        self._landmarks = dlib.shape_predictor(str(model_file(LANDMARK_MODEL, models_dir)))
        self._encoder = dlib.face_recognition_model_v1(
            str(model_file(DESCRIPTOR_MODEL, models_dir))
        )
        self._box = dlib.rectangle(0, 0, CHIP_SIZE - 1, CHIP_SIZE - 1)

    def descriptors(self, images: torch.Tensor) -> np.ndarray:
        """(N,3,H,W) in [-1, 1] -> (N, 128) descriptors."""
        out = []
        for image in images:
            chip = np.asarray(resize(Image.fromarray(to_uint8(image)), CHIP_SIZE))
            shape = self._landmarks(chip, self._box)
            out.append(np.asarray(self._encoder.compute_face_descriptor(chip, shape)))
        return np.stack(out)

    def __call__(self, restored: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Per-face distance (N,) between ``restored`` and ``reference`` batches."""
        distance = np.linalg.norm(self.descriptors(restored) - self.descriptors(reference), axis=1)
        return torch.from_numpy(distance).float()
