"""How long a reader and a contributor wait: the book built cold and rebuilt unchanged, every
verdict read (``verdicts --json``), make unit and make test.

    python benchmarks/book.py [--targets "cold book" "warm book" verdicts "make unit" "make test"]

Each target runs in a temporary clone of the committed tree, as a fresh clone would: the cold build
from an empty build folder (no execution cache, no Sphinx environment), the warm build repeating it
with nothing changed (default: those two). Each row records the target, the commit, the machine
and the load average when it started: a number measured beside other work overstates the wait.
Rows of the targets timed replace their earlier rows in ``benchmarks/book.csv``, which the
performance page shows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from predefined_prototypes.run.provenance import cpu_name, git_commit

REPO = Path(__file__).resolve().parents[1]
# What the project aims for on an idle 2-core machine, and each target's command.
TARGETS_S = {"cold book": 90, "warm book": 15, "verdicts": 5, "make unit": 60, "make test": 600}
COMMANDS = {
    "cold book": ["jupyter-book", "build", ".", "--warningiserror"],
    "warm book": ["jupyter-book", "build", ".", "--warningiserror"],
    "verdicts": ["python", "-m", "predefined_prototypes", "verdicts", "--json"],
    "make unit": ["make", "unit"],
    "make test": ["make", "test"],
}


def timed(command: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS_S), default=["cold book", "warm book"])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "book.csv"))
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="pp-book-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", "--local", str(REPO), str(clone)], check=True)
        (clone / ".venv").symlink_to(REPO / ".venv")  # the installed environment, as make expects it
        (clone / ".venv" / ".installed").touch(exist_ok=True)
        # The environment's editable install points at this checkout; the copy's own code comes first.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(clone / "src"), env.get("PYTHONPATH")]))
        for target in [t for t in TARGETS_S if t in args.targets]:  # in order: the cold build before the warm
            command = COMMANDS[target]
            load = os.getloadavg()[0]
            print(f"{target}: {' '.join(command)} (load average {load:.1f})", flush=True)
            seconds = timed(command, clone, env)
            rows.append(
                {
                    "target": target,
                    "seconds": round(seconds, 1),
                    "goal_s": TARGETS_S[target],
                    "load_average_at_start": round(load, 1),
                    "cpus": os.cpu_count(),
                    "cpu": cpu_name(),
                    "commit": git_commit()[:10],
                    "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                }
            )
            print(f"  {seconds:.1f} s (goal {TARGETS_S[target]} s)", flush=True)
    out = Path(args.out)
    kept = pd.read_csv(out) if out.is_file() else pd.DataFrame(columns=["target"])
    kept = kept[~kept["target"].isin(args.targets)]
    order = {t: i for i, t in enumerate(TARGETS_S)}
    table = pd.concat([kept, pd.DataFrame(rows)], ignore_index=True).sort_values("target", key=lambda t: t.map(order))
    table.to_csv(out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
