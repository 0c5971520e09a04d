"""Each loss's own options, as small dataclasses that check their own types and ranges.

A loss names its options class in its registry entry (``registry.LOSSES``); a run holds one
instance of it (``RunConfig.loss_options``). Option names are unique across every part of a run
(the data, the backbone, the loss, the recipe), because sweep files, command lines and results
tables name them flat: ``lam=10``, ``focal_gamma=1``. The classes need no torch, so a typo in a
sweep file fails before anything is imported.

>>> build_options(FocalOptions, {"focal_gamma": 1})
FocalOptions(focal_gamma=1.0)
>>> build_options(FocalOptions, {"focal_gamma": -1})
Traceback (most recent call last):
    ...
ValueError: focal_gamma must be >= 0, got -1.0
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass


def at_least(options, minimum: float, *names: str, strictly: bool = False) -> None:
    """ValueError naming the first of ``names`` below ``minimum`` (or not above it, ``strictly``)."""
    for name in names:
        value = getattr(options, name)
        if value < minimum or (strictly and value == minimum):
            raise ValueError(f"{name} must be {'>' if strictly else '>='} {minimum:g}, got {value!r}")


@dataclass(frozen=True)
class NoOptions:
    """A loss without options of its own."""


@dataclass(frozen=True)
class CrossEntropyOptions:
    bce: bool = False  # binary cross-entropy on sigmoid outputs in place of CE (the authors', under mixup)


@dataclass(frozen=True)
class FocalOptions:
    focal_gamma: float = 2.0

    def __post_init__(self):
        at_least(self, 0, "focal_gamma")


@dataclass(frozen=True)
class OPLOptions:
    opl_gamma: float = 2.0  # the weight of the negative pairs' cosine
    opl_weight: float = 0.1  # the orthogonal projection loss's weight beside cross-entropy

    def __post_init__(self):
        at_least(self, 0, "opl_gamma", "opl_weight")


@dataclass(frozen=True)
class PrototypeOptions:
    prototypes: str = "orthogonal"  # the construction (``registry.PROTOTYPE_KINDS``); learned ones start from it
    scale: float = 1.0  # the prototypes' norm s
    lam: float = 1.0  # the pull's weight: CE + lam * ||z - P(y)||^2
    bce: bool = False

    def __post_init__(self):
        from .registry import PROTOTYPE_KINDS  # here, not above: the registry imports this module

        if self.prototypes not in PROTOTYPE_KINDS:
            raise ValueError(f"prototypes={self.prototypes!r} is not valid; valid values: {', '.join(PROTOTYPE_KINDS)}")
        at_least(self, 0, "scale", strictly=True)
        at_least(self, 0, "lam")


@dataclass(frozen=True)
class FactorPrototypeOptions:
    """The factor prototypes' norm and pull; which factors and how many levels are the run's
    (``RunConfig.factors``), because every loss measures them when a run probes the factors."""

    scale: float = 1.0
    lam: float = 1.0
    bce: bool = False

    def __post_init__(self):
        at_least(self, 0, "scale", strictly=True)
        at_least(self, 0, "lam")


def build_options(cls: type, values: dict):
    """An instance of the options dataclass ``cls`` from a mapping (each value in its field's type,
    text from a command line converted first); ValueError naming an unknown key or a bad value."""
    names = [f.name for f in dataclasses.fields(cls)]
    if unknown := sorted(set(values) - set(names)):
        valid = ", ".join(names) or "none"
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; valid options: {valid}")
    hints = type_hints(cls)
    return cls(**{key: typed(hints[key], key, coerce(hints[key], key, value)) for key, value in values.items()})


def flat(options) -> dict:
    """An options instance as flat, stored values: lists for tuples, copies of mappings."""
    values = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    return {
        k: list(v) if isinstance(v, tuple) else json.loads(json.dumps(v)) if isinstance(v, dict) else v
        for k, v in values.items()
    }


def defaults(cls: type) -> dict:
    """Every option of ``cls`` at its default, as ``flat`` writes it."""
    return flat(cls())


def typed(hint, key: str, value):
    """``value`` in the declared type ``hint``, or a ValueError naming ``key``: whole numbers for
    int (2.0 becomes 2, 1.5 is refused), finite numbers for float, true/false for bool, text for
    str; a tuple field takes a list, a dict field a mapping of plain values."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError(f"{key} may not be none")
    base = typing.get_origin(allowed[0]) or allowed[0]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if base is int:
        if not number or not math.isfinite(value) or not float(value).is_integer():
            raise ValueError(f"{key} must be a whole number, got {value!r}")
        return int(value)
    if base is float:
        if not number or not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number, got {value!r}")
        return float(value)
    if base is bool and not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    if base is str and not isinstance(value, str):
        raise ValueError(f"{key} must be text, got {value!r}")
    if base is tuple and not isinstance(value, tuple | list | str):
        raise ValueError(f"{key} must be a list of names, got {value!r}")
    if base is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping, got {value!r}")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{key} must hold plain values (text, numbers, true/false, lists, mappings): {err}; "
                "quote dates and other values YAML reads as objects"
            ) from None
    return value


def coerce(hint, key: str, value):
    """Command-line text in the declared type ``hint`` (int, float, bool, none, a comma list, a
    JSON mapping); any other value unchanged, for ``typed`` to check."""
    if not isinstance(value, str):
        return value
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if not value:  # an unset shell variable (fold=$FOLD) must not mean "the default"
        raise ValueError(f"{key}= is empty; give a value ({key}=none for no value, where allowed)")
    if value.lower() in ("none", "null") and type(None) in allowed:
        return None
    base = next(t for t in allowed if t is not type(None))
    base = typing.get_origin(base) or base
    try:
        if base is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if base in (int, float):
            return base(value)
        if base is tuple:
            return tuple(v for v in value.split(",") if v)
        if base is dict:
            return json.loads(value)
    except ValueError:
        raise ValueError(f"{key}={value!r} is not a valid {base.__name__}") from None
    return value


@functools.cache
def type_hints(cls: type) -> dict:
    """The fields' declared types, resolved once per class (resolving them is slow)."""
    return typing.get_type_hints(cls)
