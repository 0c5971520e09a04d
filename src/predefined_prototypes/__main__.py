"""Command line: ``python -m predefined_prototypes <command> ...``; ``--help`` lists the commands."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

MAX_ERROR = 600  # characters of an error shown; the rest is counted


def one_line(message) -> str:
    """An error as one line, cut after ``MAX_ERROR`` characters with the count of the rest: a
    message listing thousands of files stays readable and still names the first.

    >>> one_line("a\\n  b")
    'a b'
    >>> one_line("x" * 700)[-30:]
    'xxxxxx ... (100 more characters)'
    """
    text = " ".join(str(message).split())
    more = len(text) - MAX_ERROR
    return text[:MAX_ERROR] + (f" ... ({more} more characters)" if more > 0 else "")


def error(message) -> None:
    print(f"error: {one_line(message)}", file=sys.stderr)


def _data(args: argparse.Namespace) -> int:
    from .data import folds
    from .data.download import DownloadError, download

    if args.action == "download":
        try:
            download(args.name, args.to, url=args.url, sha256=args.sha256, allow_unverified=args.allow_unverified)
        except (DownloadError, ValueError) as err:
            error(err)
            return 2
    else:
        try:
            options = {}
            for pair in args.option or []:
                key, _, value = pair.partition("=")
                options[key] = int(value) if value.isdigit() else value
            if args.action == "filter":
                from .run.factors import filter_report

                if Path(args.out).suffix != ".csv":
                    raise ValueError(f"--out {args.out} must name a .csv file")
                table = filter_report(args.name, args.root, **options)
                table.to_csv(args.out, index=False)
                print(f"wrote {args.out}: {table['kept'].sum()} of {table['clips'].sum()} clips kept")
            elif args.action == "pitch-check":
                from .run.crepe_pitch import pitch_check

                if Path(args.out).suffix != ".csv":
                    raise ValueError(f"--out {args.out} must name a .csv file")
                table = pitch_check(args.name, args.root, args.model, **options)
                table.to_csv(args.out, index=False)
                print(f"wrote {args.out}: {len(table)} clips measured by both trackers")
            elif args.manifest:
                import pandas as pd

                from .data import fold_manifest

                table = pd.DataFrame(fold_manifest(args.name, args.root, **options))
                table.to_csv(args.manifest, index=False)
                print(f"wrote {args.manifest}: {len(table)} speakers in {table['fold'].nunique()} folds")
            else:
                print("\n".join(str(f) for f in folds(args.name, args.root, **options)))
        except (FileNotFoundError, ValueError, ModuleNotFoundError) as err:
            error(err)
            return 2
    return 0


def _train(args: argparse.Namespace) -> int:
    from .run.config import ConfigError, RunConfig

    try:
        config = RunConfig.from_args(args.settings)  # validated before torch is even imported
    except ConfigError as err:
        error(err)
        return 2
    from .run.train import TrainingFailed, run

    try:
        result = run(config)
    except ConfigError as err:  # preflight: the machine, the data or a folder is not as configured
        error(err)
        return 2
    except (TrainingFailed, ValueError, OSError, NotImplementedError) as err:  # OSError: files, weights
        error(err)
        return 1
    metrics = result["metrics"]
    print(
        f"accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
        f"ECE {metrics['ece']:.4f}  ({result['wall_time_s']:.1f} s on {result['device']})"
    )
    if config.out:
        print(f"wrote {config.out}/metrics.json and embeddings.npz")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .data.audio import AudioFileError
    from .experiments.sweep import run_sweep
    from .reading.claims import rules_for
    from .run.config import ConfigError
    from .storage.store import ResultsError, SweepLocked

    if args.workers is not None and args.workers < 1:
        error(f"--workers must be >= 1, got {args.workers}")
        return 2
    try:
        return run_sweep(
            args.file,
            args.profile,
            workers=args.workers,
            scheduler=args.scheduler,
            notebook=args.notebook,
            runs_dir=args.runs,
            results_dir=args.results,
            aggregate_only=args.aggregate_only,
            dry_run=args.dry_run,
            prune_results=args.prune,
            rules=rules_for(Path(args.file).stem),
        )
    except (ConfigError, SweepLocked, AudioFileError, FileNotFoundError, ResultsError) as err:  # before any run
        error(err)
        return 2
    except OSError as err:  # a full disk or a folder gone: every write was atomic, so nothing is half-written
        where = f" {err.filename}" if err.filename else ""
        error(
            f"cannot write{where} ({err.strerror or err}); every run stored before it has its table row, "
            "and a run being stored was taken back out: free space or pass other --results/--runs folders, "
            "then run the sweep again"
        )
        return 2


def _store(args: argparse.Namespace) -> int:
    from .storage.check import seal
    from .storage.migrate import migrate
    from .storage.store import ResultsError, SweepLocked

    if not Path(args.results).is_dir():
        error(f"no results folder at {args.results}; pass --results")
        return 2
    if args.action in ("migrate", "derive", "seal"):
        try:
            if args.action == "seal":
                print("\n".join(seal(args.results)) or "every stored file was already recorded")
            else:
                if args.action == "migrate":
                    print("\n".join(migrate(args.results)) or "every stored summary is at the current schema")
                from .experiments.derivations import DERIVATIONS  # torch: the computations derived
                from .storage.derive import derive_all  # the tables derived from what a migration moved

                print("\n".join(f"derived {path}" for path in derive_all(args.results, DERIVATIONS)))
        except (ResultsError, SweepLocked) as err:
            error(err)
            return 1
        except OSError as err:
            where = f" {err.filename}" if err.filename else ""
            error(
                f"cannot write{where} ({err.strerror or err}); the store is as it was before "
                "(a migration swaps a checked copy in): make the results folder writable, then run again"
            )
            return 2
    from .storage.derive import check_all  # the stored content, and the tables derived from it

    problems = check_all(args.results)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args.results}: every stored run and table checked, no problem")
    return 1 if problems else 0


def _verdicts(args: argparse.Namespace) -> int:
    import json

    from .reading.claims import book_verdicts
    from .storage.store import ResultsError

    try:
        verdicts = book_verdicts()
    except ResultsError as err:
        error(err)
        return 2
    if args.json:
        print(json.dumps({key: v.as_json() for key, v in verdicts.items()}, indent=1, default=float))
        return 0
    for key, v in verdicts.items():
        print(f"{key} ({v.claim}, {v.corpus}): {v.outcome}" + (f": {v.rule}" if v.rule else ""))
        print(f"  {v.reason}")
        for c in v.comparisons:
            print(f"  {c.label}: {c.interval()}; {c.outcome}; {c.power()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    # Piped into head or less: end quietly when the reader stops, as other command-line tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(prog="python -m predefined_prototypes", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="download datasets, list folds")
    actions = data.add_subparsers(dest="action", required=True)
    get = actions.add_parser("download", help="download and unpack a public dataset")
    get.add_argument("name", help="a dataset's name (those without a download print how to get them)")
    get.add_argument("--to", required=True, help="folder to create with the dataset's layout")
    get.add_argument("--url", help="another archive URL (then pass its --sha256)")
    get.add_argument("--sha256", help="expected SHA-256 of the archive")
    get.add_argument("--allow-unverified", action="store_true", help="accept an archive without a checksum")
    fold_list = actions.add_parser("folds", help="list a dataset's fold ids")
    fold_list.add_argument("name")
    fold_list.add_argument("--root", help="dataset folder (default: $PP_DATA_DIR/<name>)")
    fold_list.add_argument("--option", action="append", help="a dataset option, e.g. folds=10 (repeatable)")
    fold_list.add_argument("--manifest", help="write every speaker's fold and clip count to this CSV file")

    filtered = actions.add_parser("filter", help="what the factors' validity filter removes, by speaker sex and class")
    filtered.add_argument("name")
    filtered.add_argument("--root", help="dataset folder (default: $PP_DATA_DIR/<name>)")
    filtered.add_argument("--option", action="append", help="a dataset option, e.g. classes=8 (repeatable)")
    filtered.add_argument("--out", required=True, help="the CSV file to write")

    checked = actions.add_parser("pitch-check", help="every clip's pitch by the package's tracker and by CREPE")
    checked.add_argument("name")
    checked.add_argument("--root", help="dataset folder (default: $PP_DATA_DIR/<name>)")
    checked.add_argument("--option", action="append", help="a dataset option, e.g. classes=4 (repeatable)")
    checked.add_argument("--model", default="tiny", choices=["tiny", "full"], help="CREPE's model (full: GPU)")
    checked.add_argument("--out", required=True, help="the CSV file to write")

    train = commands.add_parser("train", help="train one configuration: key=value ...")
    train.add_argument("settings", nargs="*", help="RunConfig fields, e.g. dataset=fsdd fold=theo loss=prototypes")

    sweep = commands.add_parser("sweep", help="run a sweep file's profile with papermill, then aggregate")
    sweep.add_argument("file", help="configs/<sweep>.yaml")
    sweep.add_argument("--profile", default="quick", help="a profile of the sweep file (quick, full)")
    sweep.add_argument("--workers", type=int, help="run on a local Dask cluster of this many processes")
    sweep.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:port)")
    sweep.add_argument("--notebook", default="notebooks/train.ipynb", help="the training notebook")
    sweep.add_argument("--runs", default="runs", help="where executed notebooks and run outputs go")
    sweep.add_argument("--results", default="results", help="where the aggregated tables go")
    sweep.add_argument(
        "--dry-run", action="store_true", help="print the plan (planned, finished and where, to run) and run nothing"
    )
    sweep.add_argument(
        "--aggregate-only",
        action="store_true",
        help="store runs finished under --runs and rebuild the table, run nothing",
    )
    sweep.add_argument(
        "--prune",
        action="store_true",
        help="also remove table rows and stored runs that the sweep file no longer plans",
    )

    store = commands.add_parser(
        "store", help="check the stored results, migrate them to the current schema, or derive the book's tables"
    )
    store.add_argument(
        "action",
        choices=("check", "migrate", "derive", "seal"),
        help="check: one line per problem, exit 1 if any; derive: the tables the book reads (derive.DERIVED) where "
        "missing or stale; seal: record the digests of stored files a store written before manifests holds, "
        "once every other check passes",
    )
    store.add_argument("--results", default="results", help="the results folder")

    verdicts = commands.add_parser("verdicts", help="every verdict on the paper's claims, from the stored results")
    verdicts.add_argument("--json", action="store_true", help="as JSON, every comparison with its numbers")

    args = parser.parse_args(argv)
    return {"data": _data, "train": _train, "sweep": _sweep, "store": _store, "verdicts": _verdicts}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
