"""Predefined prototypes for intra-class separation and disentanglement (Almudévar et al.,
Interspeech 2024): fixed prototype extractors, the prototype loss and its baselines."""

import importlib

__version__ = "0.1.0"

# Names are imported on first use, so that the command line can reject a bad configuration
# before torch (~2 s) is loaded.
_EXPORTS = {
    "FocalLoss": "method.losses",
    "OrthogonalProjectionLoss": "method.losses",
    "PrototypeLoss": "method.losses",
    "FactorPrototypes": "method.prototypes",
    "FixedPrototypes": "method.prototypes",
    "LearnedPrototypes": "method.prototypes",
    "gaussian_prototypes": "method.prototypes",
    "hyperspherical_prototypes": "method.prototypes",
    "orthogonal_prototypes": "method.prototypes",
    "simplex_etf_prototypes": "method.prototypes",
    "RunConfig": "run.config",
    "load_run": "experiments.run_folder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
