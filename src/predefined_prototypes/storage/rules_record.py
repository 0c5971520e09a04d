"""When a sweep's rules were fixed: the record a sweep writes before its first full-profile run.

    results/<sweep>/rules.json   {"fixed_at", "git_commit", "rules_digest", "rules", "plan_digest", "planned",
                                  "stored_before"}

A verdict is confirmatory only if the rules it reads (thresholds, outcome tables, the comparisons)
and the plan of runs it reads were written down before any of those runs existed. The sweep writes
this record once, before the first run of its full profile is stored, from what the command line
hands it (the store does not know the rules: the reading side declares them), and the manifest
records its digest like any stored file's. ``stored_before`` counts the planned runs that some sweep
had stored already (reused, so their numbers may have been read before the rules were fixed). The reading side later compares the record with the
rules and plan in force (``compare``): unchanged since then, or what changed.

>>> import tempfile
>>> sweep = Path(tempfile.mkdtemp())
>>> record = fix_rules(sweep, {"margin": 0.02}, ["b", "a"], "abc123", now="2026-12-07T09:00:00Z")
>>> record["planned"], record["fixed_at"]
(2, '2026-12-07T09:00:00Z')
>>> fix_rules(sweep, {"margin": 0.05}, ["a"], "def456")["rules"]  # written once: a later call reads it
{'margin': 0.02}
>>> compare(read_record(sweep), {"margin": 0.02}, ["a", "b"])
[]
>>> compare(read_record(sweep), {"margin": 0.03}, ["a", "b", "c"])
['margin: 0.02 then, 0.03 now', 'the plan: 2 runs then, 3 now']
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from .manifest import write_recorded

RECORD = "rules.json"


def digest(value) -> str:
    """The SHA-256 of a JSON value written canonically (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_record(sweep_dir: str | Path) -> dict | None:
    """A sweep's rules record, or None where it has none (a sweep stored before records began)."""
    path = Path(sweep_dir) / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        record["rules"], record["fixed_at"], record["plan_digest"]  # noqa: B018 (the fields it must have)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} cannot be read ({err}); restore it from git (git checkout -- {path})") from None
    return record


def fix_rules(
    sweep_dir: str | Path, rules: dict, planned: list[str], commit: str, stored_before: int = 0, now: str | None = None
) -> dict:
    """Write the sweep's record of ``rules`` and its ``planned`` run ids, unless it has one (a
    record is never replaced: that is its point). Returns the record in force."""
    sweep_dir = Path(sweep_dir)
    existing = read_record(sweep_dir)
    if existing is not None:
        return existing
    record = {
        "fixed_at": now or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": commit,
        "rules_digest": digest(rules),
        "rules": rules,
        "plan_digest": digest(sorted(planned)),
        "planned": len(planned),
        "stored_before": stored_before,
    }
    text = json.dumps(record, indent=1, sort_keys=True).encode() + b"\n"
    path = sweep_dir / RECORD
    sweep_dir.mkdir(parents=True, exist_ok=True)
    # Entered before the file appears, as every stored file is: a crash in between leaves an entry
    # whose file is missing (named by ``store check``), never an unrecorded record.
    write_recorded(sweep_dir, path, text)
    return record


def compare(record: dict, rules: dict, planned: list[str]) -> list[str]:
    """What changed between a record and the rules and plan in force, one phrase each ([]: nothing)."""
    changes = []
    if record["rules_digest"] != digest(rules):
        old, new = record["rules"], rules
        for key in sorted(set(old) | set(new)):
            if digest(old.get(key)) != digest(new.get(key)):
                changes.append(f"{key}: {_short(old.get(key))} then, {_short(new.get(key))} now")
    if record["plan_digest"] != digest(sorted(planned)):
        changes.append(f"the plan: {record['planned']} runs then, {len(planned)} now")
    return changes


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, int | float) else f"{value:g}"
    return text if len(text) <= 60 else text[:57] + "..."
