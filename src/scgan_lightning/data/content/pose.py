"""Head pose of a face crop from dlib's 68 landmarks, for drawing a population by pose.

The crop is taken as the face box (as the identity distance does); the yaw score is the nose
tip's asymmetry between the jaw's two ends, (d_left - d_right) / (d_left + d_right): 0 for a
frontal face, towards +-1 for a profile. On ``faces_hr/val`` its median magnitude is 0.17 and
its 90th percentile 0.49; the faces it ranks highest are visibly turned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...dlib_models import import_dlib, model_file
from ...imaging import resize, to_uint8

LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"
CHIP_SIZE = 150
NOSE_TIP, JAW_LEFT, JAW_RIGHT = 30, 0, 16


class YawEstimator:
    """Signed yaw scores of face crops (dlib's 68-point shape predictor, CC0, offline)."""

    def __init__(self) -> None:
        dlib = import_dlib("the pose score of a content shift")
        self._predictor = dlib.shape_predictor(str(model_file(LANDMARK_MODEL)))
        self._box = dlib.rectangle(0, 0, CHIP_SIZE - 1, CHIP_SIZE - 1)

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """(N,3,H,W) in [-1, 1] -> (N,) signed yaw scores in [-1, 1]."""
        scores = []
        for image in images:
            chip = np.asarray(resize(Image.fromarray(to_uint8(image)), CHIP_SIZE))
            shape = self._predictor(chip, self._box)
            points = {
                i: np.array([shape.part(i).x, shape.part(i).y], float)
                for i in (NOSE_TIP, JAW_LEFT, JAW_RIGHT)
            }
            left = np.linalg.norm(points[NOSE_TIP] - points[JAW_LEFT])
            right = np.linalg.norm(points[NOSE_TIP] - points[JAW_RIGHT])
            scores.append((left - right) / max(left + right, 1e-6))
        return np.asarray(scores)


@dataclass
class PoseSelection:
    """Draws the shifted population by pose: the ``share`` of faces turned furthest from
    frontal (``toward="profile"``) or closest to it (``toward="frontal"``)."""

    share: float = 0.5
    toward: str = "profile"
    _estimator: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"PoseSelection.share={self.share}: expected a value in (0, 1)")
        if self.toward not in ("profile", "frontal"):
            raise ValueError(f"PoseSelection.toward={self.toward!r}: 'profile' or 'frontal'")

    def score(self, images: torch.Tensor) -> np.ndarray:
        """Higher for the faces this selection prefers."""
        if self._estimator is None:
            self._estimator = YawEstimator()
        yaw = np.abs(self._estimator(images))
        return yaw if self.toward == "profile" else -yaw
