"""The SCGAN networks. They know nothing of Lightning, files or configs."""

from .degrader import NOISE_DIM, Degrader
from .discriminator import Discriminator
from .explicit_degradation import ExplicitDegradation, ExplicitDegrader
from .restorer import Restorer
from .spectral_norm import SpectralNorm
from .tiny_restorer import TinyRestorer

__all__ = [
    "NOISE_DIM",
    "Degrader",
    "Discriminator",
    "ExplicitDegradation",
    "ExplicitDegrader",
    "Restorer",
    "SpectralNorm",
    "TinyRestorer",
]
