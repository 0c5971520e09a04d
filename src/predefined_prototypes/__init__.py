"""Predefined prototypes for intra-class separation and disentanglement (Almudévar et al.,
Interspeech 2024): fixed prototype extractors, the prototype loss and its baselines."""

from .losses import FocalLoss, OrthogonalProjectionLoss, PrototypeLoss
from .prototypes import (
    FactorPrototypes,
    FixedPrototypes,
    LearnedPrototypes,
    gaussian_prototypes,
    hyperspherical_prototypes,
    orthogonal_prototypes,
    simplex_etf_prototypes,
)

__version__ = "0.1.0"

__all__ = [
    "FactorPrototypes",
    "FixedPrototypes",
    "FocalLoss",
    "LearnedPrototypes",
    "OrthogonalProjectionLoss",
    "PrototypeLoss",
    "gaussian_prototypes",
    "hyperspherical_prototypes",
    "orthogonal_prototypes",
    "simplex_etf_prototypes",
]
