"""Face detection in whole photos: YuNet (vendored ONNX, via OpenCV) or OpenCV's Haar cascade.

YuNet finds faces down to about 10 px, the size SCGAN is made for; the Haar cascade misses
almost all faces under 20 px and stays only as a fallback. Both run through OpenCV.
Images are uint8 RGB arrays (H,W,3); boxes are in photo pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..errors import UserError

DETECTORS = ("yunet", "haar")
YUNET_FILE = ("assets", "yunet", "yunet_n_640_640.onnx")
HAAR_FILE = "haarcascade_frontalface_default.xml"


class Box(NamedTuple):
    """An axis-aligned rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def side(self) -> int:
        return max(self.w, self.h)


@dataclass(frozen=True)
class Face:
    """A detected face: its box and, from YuNet, five landmarks (x, y) in photo pixels:
    right eye, left eye, nose tip, right and left mouth corners (the person's right/left)."""

    box: Box
    score: float
    landmarks: np.ndarray | None = None


class Detector(Protocol):
    def __call__(self, image: np.ndarray) -> list[Face]: ...


def _cv2() -> Any:
    """OpenCV, imported only when a photo needs a detector (it is a dependency of the package)."""
    try:
        import cv2
    except ImportError:
        raise UserError(
            "face detection needs OpenCV, which this installation lacks: "
            "pip install opencv-python-headless"
        ) from None
    return cv2


def _check_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H,W,3), got {image.dtype} {image.shape}")
    return image


class YuNet:
    """YuNet-n run by ``cv2.FaceDetectorYN`` at the photo's own size (no rescaling, so the
    tiny faces keep every pixel they have)."""

    def __init__(self, min_face: int, score: float = 0.6, nms: float = 0.3) -> None:
        cv2 = _cv2()
        model = resources.files("scgan_lightning").joinpath(*YUNET_FILE)
        if not model.is_file():
            raise UserError(f"the bundled face detector {'/'.join(YUNET_FILE)} is not installed")
        with resources.as_file(model) as path:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score, nms, 50_000)
        self._cv2 = cv2
        self.min_face = min_face

    def __call__(self, image: np.ndarray) -> list[Face]:
        bgr = self._cv2.cvtColor(_check_rgb(image), self._cv2.COLOR_RGB2BGR)
        height, width = bgr.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(bgr)
        faces = []
        for row in np.zeros((0, 15)) if rows is None else rows:
            if not np.isfinite(row[:15]).all():
                continue  # seen on a 64x32 single-colour photo: a box at infinity is no face
            x, y = max(0, round(row[0])), max(0, round(row[1]))
            w = min(round(row[2]), width - x)
            h = min(round(row[3]), height - y)
            if min(w, h) >= 1 and max(w, h) >= self.min_face:
                points = row[4:14].reshape(5, 2).astype(np.float32)
                faces.append(Face(Box(x, y, w, h), float(row[14]), points))
        return _reading_order(faces)


class Haar:
    """OpenCV's bundled frontal-face cascade (pyramid step 1.1, 5 neighbours); no landmarks."""

    def __init__(self, min_face: int) -> None:
        cv2 = _cv2()
        path = cv2.data.haarcascades + HAAR_FILE
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise UserError(f"{path}: OpenCV's bundled face cascade could not be loaded")
        self._cv2 = cv2
        self.min_face = min_face

    def __call__(self, image: np.ndarray) -> list[Face]:
        grey = self._cv2.cvtColor(_check_rgb(image), self._cv2.COLOR_RGB2GRAY)
        found = self._cascade.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_face, self.min_face)
        )
        boxes = np.asarray(found).reshape(-1, 4)
        return _reading_order([Face(Box(*map(int, b)), 1.0) for b in boxes])


def _reading_order(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda f: (f.box.y, f.box.x))


def make_detector(name: str, min_face: int) -> Detector:
    """The detector called ``name``; loading it early makes a missing OpenCV fail before work."""
    if name == "yunet":
        return YuNet(min_face)
    if name == "haar":
        return Haar(min_face)
    raise UserError(f"photo.detector must be one of {', '.join(DETECTORS)}, got {name!r}")
