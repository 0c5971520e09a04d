"""How long a reader and a contributor wait: the book built cold and rebuilt unchanged, and make test.

    python benchmarks/book.py [--with-tests]

The cold build starts from an empty build folder (no execution cache, no Sphinx environment) in a
temporary copy of the committed tree, as a fresh clone would; the warm build repeats it with
nothing changed. ``--with-tests`` also times ``make test`` in that copy (minutes). Each row records
the target, the commit, the machine and the load average when it started: a number measured
beside other work overstates the wait. The table goes to ``benchmarks/book.csv``, which the
reproduce page shows.
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
TARGETS_S = {"cold book": 90, "warm book": 15, "make test": 600}  # what the project aims for, idle 2 cores


def timed(command: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--with-tests", action="store_true", help="also time make test (minutes)")
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
        jobs = [("cold book", ["jupyter-book", "build", ".", "--warningiserror"])]
        jobs.append(("warm book", jobs[0][1]))
        if args.with_tests:
            jobs.append(("make test", ["make", "test"]))
        for target, command in jobs:
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
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
