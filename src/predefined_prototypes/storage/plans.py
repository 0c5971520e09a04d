"""What a sweep plans, as the store keeps it: the runs a sweep file's profiles expand to, recorded
by the sweep when it stores, so that reading a result never expands a sweep file again.

    results/<sweep>/plan.json   {"sweep_file_sha256", "profiles": {<profile>: {"common", "columns", "runs"}}}

``common`` holds the settings every run of the profile shares; ``columns`` names the others, and
each row of ``runs`` is a run id followed by its values of them. The record names the digest of
the sweep file it was expanded from: a sweep file edited since is refused with the command that
records its new plan, never read against the old one. The manifest records the plan's digest
like any stored file's.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> runs = [Run("s", "full", f"id{i}", {"loss": loss, "epochs": 5}, "") for i, loss in enumerate(["ce", "focal"])]
>>> record_plan(folder / "s", b"grid: ...", {"full": runs})
True
>>> [(r.run_id, r.settings["loss"], r.settings["epochs"]) for r in read_plan(folder / "s", "full")]
[('id0', 'ce', 5), ('id1', 'focal', 5)]
>>> record_plan(folder / "s", b"grid: ...", {"full": runs})  # the same plan: nothing written
False
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .manifest import write_recorded

RECORD = "plan.json"
# The sweep files of configs/, in the order ``make sweeps`` runs them: a run planned by two of them
# (the same run id) is trained by the first and reused by the later one.
SWEEP_ORDER = (
    "main-fsdd",
    "main-emodb",
    "ablation-prototypes",
    "ablation-factors",
    "novel-classes",
    "pull-strength",
    "tuned-baselines",
    "factor-pull",
    "claim1-speech-commands-pilot",
    "claim1-speech-commands",
    "claim1-ravdess-pilot",
    "claim1-ravdess",
    "claim2-ravdess",
    "claim2-ravdess-intensity",
    "bf16-check",
    "channels-last-check",
    "bf16-channels-last-check",
    "claim1-recipes-ravdess",
    "claim1-recipes-speech-commands",
    "claim1-pretrained-ravdess-pilot",
    "claim1-pretrained-emodb-pilot",
)


@dataclass(frozen=True)
class Run:
    """One run a sweep plans: where it comes from, its id and configuration, and its local folder."""

    sweep: str
    profile: str
    run_id: str
    settings: dict  # RunConfig fields, without ``out``
    out: str


class Planned(NamedTuple):
    run_id: str
    settings: dict


def _as_json(value):
    return json.loads(json.dumps(value))  # tuples as lists: what the record reads back


def plan_content(sweep_file: bytes, profiles: dict[str, list[Run]]) -> dict:
    """The record of ``profiles`` (name -> the runs it plans), expanded from a sweep file of these bytes."""
    content = {}
    for name, runs in profiles.items():
        settings = [_as_json(r.settings) for r in runs]
        keys = sorted({k for s in settings for k in s})
        common = {k: settings[0][k] for k in keys if all(k in s and s[k] == settings[0][k] for s in settings)}
        columns = [k for k in keys if k not in common]
        rows = [[r.run_id, *(s.get(k) for k in columns)] for r, s in zip(runs, settings)]
        content[name] = {"common": common, "columns": columns, "runs": rows}
    return {"sweep_file_sha256": hashlib.sha256(sweep_file).hexdigest(), "profiles": content}


def record_plan(sweep_dir: str | Path, sweep_file: bytes, profiles: dict[str, list[Run]]) -> bool:
    """Write ``<sweep_dir>/plan.json`` (manifest entry first, like every stored file) unless it
    already holds this plan; returns whether it wrote."""
    path = Path(sweep_dir) / RECORD
    text = (json.dumps(plan_content(sweep_file, profiles), indent=1, sort_keys=True) + "\n").encode()
    if path.is_file() and path.read_bytes() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_recorded(path.parent, path, text)
    return True


def read_plan(sweep_dir: str | Path, profile: str, sweep_file: str | Path | None = None) -> list[Planned] | None:
    """The runs a sweep's profile plans, as its sweep recorded them; None where nothing is recorded
    (no sweep stored there yet). ValueError, with the command that records the plan anew, when
    ``sweep_file`` (if given and present) is not the file the plan was expanded from, or the
    profile is not in the record."""
    path = Path(sweep_dir) / RECORD
    if not path.is_file():
        return None
    record = _parsed(path.read_bytes())
    if record is None:
        raise ValueError(f"{path} cannot be read; restore it from git (git checkout -- {path})")
    again = f"python -m predefined_prototypes sweep {sweep_file or 'configs/<sweep>.yaml'} --aggregate-only"
    if sweep_file is not None and Path(sweep_file).is_file():
        if hashlib.sha256(Path(sweep_file).read_bytes()).hexdigest() != record["sweep_file_sha256"]:
            raise ValueError(f"{sweep_file} changed after {path} recorded its plan: record the new plan with {again}")
    if profile not in record["profiles"]:
        raise ValueError(f"{path} records no profile {profile!r}: record it with {again}")
    part = record["profiles"][profile]
    return [Planned(row[0], part["common"] | dict(zip(part["columns"], row[1:]))) for row in part["runs"]]


@functools.lru_cache(maxsize=64)
def _parsed(text: bytes) -> dict | None:
    # Kept per content: a page asks for the same plan dozens of times, and an edit is a new key.
    try:
        record = json.loads(text)
        record["sweep_file_sha256"], record["profiles"]  # noqa: B018 (the fields it must have)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return record
