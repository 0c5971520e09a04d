"""The backbones a run can train, each with its builder, its front end and its own options.

A backbone's options are a small dataclass that checks its own values; a run holds one instance
(``RunConfig.backbone_options``). Sweep files and stored summaries write them as they always have:
``channels`` and ``pretrained`` by their own names (they were run fields once, and stored run ids
hash them so), every other option in the ``backbone_options`` mapping. Nothing here imports torch:
the builders (``models.py``) are resolved only when a model is built.

>>> backbone_options("cnn", {"channels": 16})
CNNOptions(channels=16)
>>> backbone_options("ge2e", {"backbone_options": {"freeze": True}})
GE2EOptions(freeze=True, encoder_lr=None, partial_frames=0)
>>> stored_options("ge2e", GE2EOptions(encoder_lr=1e-4))
{'channels': 8, 'pretrained': None, 'backbone_options': {'encoder_lr': 0.0001}}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from ..method.options import at_least, build_options, flat

# Options stored under their own name (they were RunConfig fields), with the value a run of a
# backbone without them records.
OWN_NAMES = {"channels": 8, "pretrained": None}
MAX_CHANNELS = 256  # far above any sweep here or the paper's (ECAPA's 512 channels is channels=32)


@dataclass(frozen=True)
class CNNOptions:
    channels: int = 8  # the first block's width, doubled per block

    def __post_init__(self):
        at_least(self, 1, "channels")
        if self.channels > MAX_CHANNELS:
            raise ValueError(f"channels must be at most {MAX_CHANNELS}, got {self.channels}")


@dataclass(frozen=True)
class ECAPAOptions(CNNOptions):
    """ECAPA-TDNN's width: 16 x ``channels`` (the paper's 512 is channels=32)."""


@dataclass(frozen=True)
class ASTOptions:
    REST: ClassVar[str] = "config"  # the field taking every mapping key not named here

    pretrained: str | None = None  # a model id or path to load weights from
    config: dict = field(default_factory=dict)  # ASTConfig overrides (a tiny model for tests)


@dataclass(frozen=True)
class BEATsOptions:
    pretrained: str | None = None  # the BEATs checkpoint
    code: str | None = None  # the folder holding Microsoft's BEATs code


@dataclass(frozen=True)
class GE2EOptions:
    freeze: bool = False  # the encoder is not trained and z is its own embedding (a linear probe)
    encoder_lr: float | None = None  # the pretrained weights' learning rate (default: the recipe's lr)
    # Training reads a random window of this many frames of each crop, as the encoder was trained
    # (GE2E's partial utterances: 160 frames, 1.6 s); evaluation reads the whole crop. 0: the whole crop.
    partial_frames: int = 0

    def __post_init__(self):
        if self.encoder_lr is not None:
            at_least(self, 0, "encoder_lr", strictly=True)
        at_least(self, 0, "partial_frames")


@dataclass(frozen=True)
class Backbone:
    builder: str  # "module:function" (``models.py``'s), builder(mel, frames, embed_dim, options)
    options: type
    front_end: str = "fbank"  # the features it reads (``features.FRONT_ENDS``)


BACKBONES = {
    "cnn": Backbone(".models:build_cnn", CNNOptions),
    "ecapa": Backbone(".models:build_ecapa", ECAPAOptions),
    "ast": Backbone(".models:build_ast", ASTOptions),
    "beats": Backbone(".models:build_beats", BEATsOptions),
    "ge2e": Backbone(".models:build_ge2e", GE2EOptions, front_end="ge2e"),
}
GE2E_MEL_BINS = 40  # the mel bands the GE2E encoder was trained on


def backbone_options(name: str, values: dict):
    """The options of backbone ``name`` from stored values: ``channels`` and ``pretrained`` by
    their own names and the ``backbone_options`` mapping. An own-name option the backbone lacks
    is refused unless at the value every run records for it; ValueError names the problem."""
    cls = BACKBONES[name].options
    names = {f.name for f in dataclasses.fields(cls)}
    mapping = dict(values.get("backbone_options") or {})
    if clash := sorted(set(mapping) & set(OWN_NAMES)):
        raise ValueError(f"give {', '.join(clash)} by its own name ({clash[0]}=...), not in backbone_options")
    given = {}
    for key, stored in OWN_NAMES.items():
        if key in values and key in names:
            given[key] = values[key]
        elif values.get(key, stored) != stored:
            having = [b for b, entry in BACKBONES.items() if key in {f.name for f in dataclasses.fields(entry.options)}]
            raise ValueError(f"{key} is an option of backbone={' or '.join(having)}, not of backbone={name}")
    rest = getattr(cls, "REST", None)
    if rest:
        given[rest] = {k: v for k, v in mapping.items() if k not in names}
        mapping = {k: v for k, v in mapping.items() if k in names}
    try:
        return build_options(cls, {**mapping, **given})
    except ValueError as err:
        raise ValueError(f"backbone={name}: {err}") from None


def stored_options(name: str, options) -> dict:
    """``options`` as a summary stores them: ``channels`` and ``pretrained`` always (at the value
    every run records where the backbone lacks them), the rest in ``backbone_options`` where they
    differ from their default."""
    values, default = flat(options), flat(type(options)())
    rest = getattr(type(options), "REST", None)
    mapping = {k: v for k, v in values.items() if k not in OWN_NAMES and k != rest and v != default[k]}
    if rest:
        mapping |= values[rest]
    return {key: values.get(key, stored) for key, stored in OWN_NAMES.items()} | {"backbone_options": mapping}
