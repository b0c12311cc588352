"""Content shifts: the population gap between HR faces and real LR faces (framing, pose,
light, greyscale), composable in ``conf/content_shift`` like degradation chains."""

from .pose import PoseSelection, YawEstimator
from .registry import load_content_shift, preset_names
from .shift import ContentShift, describe_shift, selections, shift_images
from .steps import Greyscale, Illumination, Reframe

__all__ = [
    "ContentShift",
    "Greyscale",
    "Illumination",
    "PoseSelection",
    "Reframe",
    "YawEstimator",
    "describe_shift",
    "load_content_shift",
    "preset_names",
    "selections",
    "shift_images",
]
