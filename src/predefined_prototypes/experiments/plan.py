"""The plan of a sweep file: its base, grid and profiles expanded into runs, checked before any
work. Pure data (no torch, no training). The runner expands a sweep file here and records what it
plans in the store (``storage.plans``), where the book's reading side reads it.

A sweep file::

    description: every loss on FSDD
    base: {dataset: fsdd, epochs: 15}          # RunConfig fields shared by every run
    grid: {loss: [ce, focal, prototypes]}       # every combination (or a list of such grids)
    profiles:                                   # named overrides, and more grid keys
      quick: {base: {epochs: 3}, grid: {fold: [theo], seed: [0]}}
      full: {grid: {fold: [george, theo], seed: [0, 1, 2]}}

Precedence: a grid entry's values override ``base`` (a setting that needs more epochs says so in
its entry), and a profile's ``base`` overrides both (the quick profile's few epochs shorten every
run, whatever its entry asks for).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from pathlib import Path

import yaml

from ..run.config import ConfigError, RunConfig
from ..storage.plans import Run

SWEEP_KEYS = {"description", "base", "grid", "profiles"}
PROFILE_KEYS = {"base", "grid"}
# More runs than any sweep of this project plans by a factor of 20: a larger grid is a typo (and
# would be expanded in memory before anything else is checked).
MAX_RUNS = 10_000


def _grid_combinations(grid: dict, where: str) -> list[dict]:
    values = []
    for key, value in grid.items():
        value = value if isinstance(value, list) else [value]
        if not value:
            raise ConfigError(f"{where}: grid key {key!r} has no values; give at least one or remove it")
        values.append(value)
    return [dict(zip(grid, combo)) for combo in itertools.product(*values)]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(value).__name__}")
    return value


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.MarkedYAMLError(
                    problem=f"key {key!r} is given twice in one mapping; keep one", problem_mark=key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


# The most values a sweep file may expand to, aliases written out: the largest here holds a few
# hundred; an alias nested in aliases (a "billion laughs") would otherwise exhaust memory later.
MAX_VALUES = 100_000


def expanded_size(value, seen: dict | None = None) -> int:
    """How many values ``value`` holds with every alias written out, counted once per shared
    object (so in time linear in the file, however far the aliases multiply).

    >>> leaf = [1, 2, 3]
    >>> expanded_size({"a": leaf, "b": leaf})
    11
    """
    seen = {} if seen is None else seen
    if not isinstance(value, dict | list):
        return 1
    if id(value) not in seen:
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        seen[id(value)] = 1 + sum(expanded_size(item, seen) for item in items)
    return seen[id(value)]


# A sweep's name (its file's stem) names folders under results/ and runs/: plain names only.
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def read_sweep_file(path: str | Path) -> dict:
    """The parsed sweep file, or a one-line ConfigError naming the file and the problem."""
    path = Path(path)
    if not SWEEP_NAME.fullmatch(path.stem):
        raise ConfigError(
            f"{path.name}: a sweep file's name becomes its folder under results/; use letters, digits, '-' "
            "and '_' before .yaml (e.g. my-sweep.yaml)"
        )
    if not path.is_file():
        raise ConfigError(f"no sweep file at {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    try:
        spec = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}: {getattr(err, 'problem', None) or err}") from None
    if (size := expanded_size(spec)) > MAX_VALUES:
        raise ConfigError(
            f"{path} expands to {size:,} values, more than the {MAX_VALUES:,} a sweep file may hold (YAML aliases "
            "repeat what they name, and nested ones multiply): write out what the aliases stand for"
        )
    spec = _mapping(spec, str(path))
    unknown = set(spec) - SWEEP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; valid: {sorted(SWEEP_KEYS)}")
    return spec


def profile_names(path: str | Path) -> list[str]:
    """The names of a sweep file's profiles (quick, full, ...)."""
    return list(_mapping(read_sweep_file(path).get("profiles"), f"{path}: profiles"))


def load_sweep(path: str | Path, profile: str, runs_dir: str | Path = "runs") -> list[Run]:
    """Expand a sweep file's profile into runs, validating every configuration first.

    The expansion is kept per file content: the reading side asks for the same plans dozens of
    times per page, and an edited file is a new key, so a stale plan is never returned.
    """
    path = Path(path)
    content = path.read_bytes() if path.is_file() else None
    return list(_expand_sweep(path, content, profile, str(Path(runs_dir).resolve())))


@functools.lru_cache(maxsize=128)
def _expand_sweep(path: Path, content: bytes | None, profile: str, runs_dir: str) -> tuple[Run, ...]:
    if not SWEEP_NAME.fullmatch(profile):
        raise ConfigError(
            f"profile {profile!r}: a profile's name becomes a table's name under results/<sweep>/; use letters, "
            "digits, '-' and '_' (e.g. quick, full)"
        )
    spec = read_sweep_file(path)
    profiles = _mapping(spec.get("profiles"), f"{path}: profiles")
    if profile not in profiles:
        raise ConfigError(f"{path}: no profile {profile!r}; valid profiles: {sorted(profiles)}")
    chosen = _mapping(profiles[profile], f"{path}: profile {profile!r}")
    if set(chosen) - PROFILE_KEYS:
        raise ConfigError(f"{path}: profile {profile!r} may only set {sorted(PROFILE_KEYS)}")
    base = _mapping(spec.get("base"), f"{path}: base")
    profile_base = _mapping(chosen.get("base"), f"{path}: {profile}.base")
    grids = spec.get("grid") or [{}]
    grids = [_mapping(g, f"{path}: grid") for g in (grids if isinstance(grids, list) else [grids])]
    profile_grid = _mapping(chosen.get("grid"), f"{path}: {profile}.grid")
    sweep, runs, seen = path.stem, [], set()
    for where, values in (
        [("base", base), (f"{profile}.base", profile_base)]
        + [("grid", g) for g in grids]
        + [(f"{profile}.grid", profile_grid)]
    ):
        if "fold" in values and (values["fold"] is None or values["fold"] == [] or None in _as_list(values["fold"])):
            raise ConfigError(
                f"{path}: {where} has an empty fold (YAML null); name the fold(s), or leave the key out for the "
                "dataset's first fold"
            )
    for grid in grids:
        size = math.prod(len(_as_list(v)) for v in {**profile_grid, **grid}.values())
        if size > MAX_RUNS:
            raise ConfigError(
                f"{path} ({profile}): a grid of {size:,} runs (the product of its value counts) is more than "
                f"{MAX_RUNS:,}; split the sweep"
            )
        clash = sorted(set(grid) & set(profile_grid))
        if clash:
            raise ConfigError(
                f"{path}: {', '.join(clash)} set by both the grid and profile {profile!r}'s grid; "
                "set each key in one of them"
            )
        # The profile's keys (folds, seeds) vary slowest, so an interrupted sweep has every
        # configuration on the same folds and seeds rather than some configurations on all.
        for combo in _grid_combinations({**profile_grid, **grid}, f"{path} ({profile})"):
            settings = {**base, **combo, **profile_base}
            try:
                config = RunConfig.from_dict(settings)
            except ConfigError as err:
                raise ConfigError(f"{path} ({profile}): {err} in run {settings}") from None
            rid = config.run_id()
            if rid not in seen:
                seen.add(rid)
                out = Path(runs_dir) / sweep / rid
                runs.append(
                    Run(sweep, profile, rid, {k: v for k, v in config.to_dict().items() if k != "out"}, str(out))
                )
    return tuple(runs)
