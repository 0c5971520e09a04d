"""Run identity and the store's checks: ids cover what a run reads, stored runs are what their
ids say, and ``store check`` finds what is wrong with a results folder."""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.schema import SCHEMA_VERSION, metric_columns
from predefined_prototypes.storage.check import check_store
from predefined_prototypes.storage.manifest import file_digest, record_files, stored_files
from predefined_prototypes.storage.migrate import migrate
from predefined_prototypes.storage.plans import Run
from predefined_prototypes.storage.store import ResultsError, StoreRefused, read_table, store, table_row

RESULTS = REPO / "results"


def stored_configs(limit_per_sweep=20):
    for sweep in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        for folder in sorted((sweep / "runs").iterdir())[:limit_per_sweep]:
            yield json.loads((folder / "metrics.json").read_text())["config"]


@pytest.mark.slow
def test_a_field_added_with_a_default_changes_no_stored_id():
    extended = dataclasses.make_dataclass(
        "Extended", [("new_knob", float, dataclasses.field(default=0.0))], bases=(RunConfig,)
    )
    checked = 0
    for config in stored_configs():
        before = RunConfig.from_dict(config).run_id()
        assert extended.from_dict(config).run_id() == before
        assert extended.from_dict({**config, "new_knob": 0.1}).run_id() != before
        checked += 1
    assert checked > 50


def test_a_knob_the_loss_does_not_read_stays_out_of_its_id():
    assert (
        RunConfig.from_dict(dict(loss="ce", scale=1)).run_id()
        == RunConfig.from_dict(dict(loss="ce", scale=10)).run_id()
    )
    assert (
        RunConfig.from_dict(dict(loss="focal", lam=3, prototypes="zero")).run_id() == RunConfig(loss="focal").run_id()
    )
    assert RunConfig.from_dict(dict(loss="prototypes", scale=10)).run_id() != RunConfig(loss="prototypes").run_id()
    assert RunConfig.from_dict(dict(loss="focal", focal_gamma=1)).run_id() != RunConfig(loss="focal").run_id()
    # The factor options count where the factors are measured, for any loss.
    assert RunConfig(loss="ce", factor_levels=4).run_id() == RunConfig(loss="ce").run_id()
    probed = {"loss": "ce", "dataset": "emodb", "probe_factors": True}
    assert RunConfig.from_dict(dict(**probed, factor_levels=4)).run_id() != RunConfig.from_dict(dict(**probed)).run_id()


@pytest.mark.slow
def test_committed_results_pass_the_store_check_and_publish_their_root_digest():
    import yaml

    from predefined_prototypes.storage.manifest import recorded_root, root_digest

    assert check_store(RESULTS) == []
    root = root_digest(RESULTS)
    assert recorded_root(RESULTS) == root, "run python -m predefined_prototypes store seal"
    cited = {i["value"] for i in yaml.safe_load((RESULTS.parent / "CITATION.cff").read_text())["identifiers"]}
    assert f"sha256:{root}" in cited, "CITATION.cff names another store: run python -m predefined_prototypes store seal"


@pytest.mark.slow
def test_a_rewritten_store_no_longer_gives_its_root_digest(tmp_path):
    from predefined_prototypes.storage.check import seal

    results = tmp_path / "results"
    shutil.copytree(RESULTS / "main-fsdd", results / "main-fsdd")
    (tmp_path / "CITATION.cff").write_text('identifiers:\n  - value: "sha256:' + "0" * 64 + '"\n')
    seal(results)
    assert (
        check_store(results) == []
        and (results / "root.sha256").read_text().split()[-1] in (tmp_path / "CITATION.cff").read_text()
    )
    # A consistent rewrite of one file (its digest rewritten in the manifest too) passes every file's
    # check, but not the root's.
    summary = sorted((results / "main-fsdd" / "runs").iterdir())[0] / "metrics.json"
    manifest = results / "main-fsdd" / "manifest.json"
    before = file_digest(summary)
    summary.write_text(json.dumps(json.loads(summary.read_text()), indent=2))  # same content, other bytes
    manifest.write_text(manifest.read_text().replace(before, file_digest(summary)))
    found = check_store(results)
    assert len(found) == 1 and "root.sha256: names" in found[0] and "store seal" in found[0], found


@pytest.mark.slow
def test_store_check_command_names_a_renamed_folder_and_a_bad_table(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS / "main-fsdd", results / "main-fsdd")
    command = [sys.executable, "-m", "predefined_prototypes", "store", "check", "--results", str(results)]
    ok = subprocess.run(command, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    runs = results / "main-fsdd" / "runs"
    first = sorted(runs.iterdir())[0]
    first.rename(runs / "0123456789ab")
    lines = (results / "main-fsdd" / "full.csv").read_text().splitlines()
    lines.insert(3, '"unterminated,1,2')
    (results / "main-fsdd" / "full.csv").write_text("\n".join(lines) + "\n")
    bad = subprocess.run(command, capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"0123456789ab: its configuration hashes to {first.name}" in bad.stdout
    assert "full.csv, line 4:" in bad.stdout
    assert "0123456789ab: no table of main-fsdd holds it" in bad.stdout


def test_a_malformed_table_line_is_an_error_naming_the_file_and_line(tmp_path):
    path = tmp_path / "full.csv"
    path.write_text("run_id,accuracy\na,0.5\nb,0.6,7\nc,0.7\n")
    with pytest.raises(ResultsError, match=r"full.csv, line 3: 3 field\(s\) where the header has 2"):
        read_table(path)
    path.write_text('run_id,accuracy\na,0.5\n"b,0.6\nc,0.7\n')  # an unterminated quote swallows the rest
    with pytest.raises(ResultsError, match="full.csv, line"):
        read_table(path)


def finished_copy(tmp_path, change) -> tuple[Run, RunConfig, dict]:
    """A committed run's outputs copied into ``tmp_path/runs`` as if just trained, with ``change``
    applied to its summary first; the planned run, its configuration and the summary written."""
    source = sorted((RESULTS / "main-fsdd" / "runs").iterdir())[0]
    record = json.loads((source / "metrics.json").read_text())
    planned = RunConfig.from_summary(record)
    out = tmp_path / "runs" / planned.run_id()
    out.mkdir(parents=True)
    change(record)
    (out / "metrics.json").write_text(json.dumps(record))
    shutil.copy(source / "embeddings.npz", out / "embeddings.npz")
    run = Run("s", "full", planned.run_id(), {k: v for k, v in planned.to_dict().items() if k != "out"}, str(out))
    return run, planned, record


def test_a_finished_run_whose_settings_differ_from_its_id_is_refused(tmp_path):
    # Trained with another lr into the planned run's folder.
    run, planned, record = finished_copy(tmp_path, lambda r: r["config"].update(lr=0.03))
    out = Path(run.out)
    with pytest.raises(StoreRefused, match=r"differs in lr: 0.03 for None"):
        store(run, tmp_path / "results")
    assert not (tmp_path / "results" / "s" / "runs" / planned.run_id()).exists()
    record["config"]["lr"] = planned.recipe.lr
    (out / "metrics.json").write_text(json.dumps(record))
    assert store(run, tmp_path / "results")
    stored = json.loads((tmp_path / "results" / "s" / "runs" / planned.run_id() / "metrics.json").read_text())
    assert stored["config"]["out"] is None and stored["schema_version"] == SCHEMA_VERSION


def test_a_metric_the_schema_does_not_declare_is_refused_and_named(tmp_path):
    # A metric added to evaluate.py, not to schema.METRICS.
    run, config, _ = finished_copy(tmp_path, lambda r: r["metrics"]["geometry"].update(wobble=0.5))
    out = Path(run.out)
    with pytest.raises(StoreRefused, match="geometry_wobble not declared in schema.METRICS"):
        store(run, tmp_path / "results")
    assert not (tmp_path / "results" / "s").exists()
    stored = tmp_path / "results" / "s" / "runs" / config.run_id()
    shutil.copytree(out, stored)  # written past the store, by hand
    assert any("geometry_wobble not declared" in line for line in check_store(tmp_path / "results"))


def test_a_table_row_holds_the_declared_metrics_in_declared_order():
    source = sorted((RESULTS / "main-fsdd" / "runs").iterdir())[0]
    record = json.loads((source / "metrics.json").read_text())
    config = RunConfig.from_summary(record)
    row = table_row(Run("s", "full", config.run_id(), config.to_dict(), "unused"), record)
    metrics = [c for c in row if c in metric_columns()]
    assert metrics == [c for c in metric_columns() if c in row]
    assert {"accuracy", "macro_f1", "train_accuracy", "geometry_silhouette"} <= set(metrics)


@pytest.mark.slow
def test_migrate_moves_old_ids_keeps_every_value_and_changes_nothing_on_disagreement(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS / "novel-classes", results / "novel-classes")
    runs = results / "novel-classes" / "runs"
    # Undo the migration for one run: an old id, a machine path, a retired metric, no version.
    folder = sorted(runs.iterdir())[0]
    record = json.loads((folder / "metrics.json").read_text())
    record["config"]["out"] = "/somewhere/runs/novel-classes/0000deadbeef"
    record["metrics"]["geometry"]["cosine_centred_class_means"] = -0.1
    del record["schema_version"]
    (folder / "metrics.json").write_text(json.dumps(record))
    table = results / "novel-classes" / "full.csv"
    table.write_text(table.read_text().replace(folder.name, "0000deadbeef"))
    folder.rename(runs / "0000deadbeef")
    reseal(results / "novel-classes")  # a store written so, before this version
    assert check_store(results)  # the old id is a problem
    before = read_table(table)
    done = migrate(results)
    assert any("1 moved to their id" in line for line in done)
    assert check_store(results) == []
    after = read_table(table)
    assert set(after.columns) == set(before.columns)  # in declared order now, every value the same
    assert after[before.columns].drop(columns="run_id").equals(before.drop(columns="run_id"))
    migrated = json.loads((folder / "metrics.json").read_text())
    assert migrated["config"]["out"] is None and "cosine_centred_class_means" not in migrated["metrics"]["geometry"]
    # A table value the summary contradicts: migrate refuses and writes nothing.
    text = table.read_text()
    rows = text.splitlines()
    column = rows[0].split(",").index("seed")
    cells = rows[1].split(",")
    cells[column] = "7"
    rows[1] = ",".join(cells)
    table.write_text("\n".join(rows) + "\n")
    for path in runs.iterdir():
        rec = json.loads((path / "metrics.json").read_text())
        del rec["schema_version"]
        (path / "metrics.json").write_text(json.dumps(rec))
    reseal(results / "novel-classes")
    with pytest.raises(ResultsError, match="would change"):
        migrate(results)
    assert all("schema_version" not in json.loads((p / "metrics.json").read_text()) for p in runs.iterdir())


def reseal(sweep):
    """Record a hand-made store's files as the store's own (what an older version wrote)."""
    (sweep / "manifest.json").unlink()
    record_files(sweep, stored_files(sweep))


def test_an_interrupted_migration_stops_every_store_operation_and_loses_no_run(tmp_path):
    """Killed between the two renames of its swap, a migrate leaves a sweep only in results/.migrate:
    check reports it, a sweep refuses to start, a folder written meanwhile stops the next migrate
    (which removes nothing), and once it is moved aside every run is back."""
    from predefined_prototypes.experiments.derivations import DERIVATIONS
    from predefined_prototypes.experiments.sweep import run_sweep
    from predefined_prototypes.storage.derive import check_all, derive_all
    from predefined_prototypes.storage.store import MIGRATION, SweepLocked, store_lock

    results = tmp_path / "results"
    shutil.copytree(RESULTS / "bf16-check", results / "bf16-check", ignore=shutil.ignore_patterns(".*"))
    stored = sorted(p.name for p in (results / "bf16-check" / "runs").iterdir())
    aside = results / MIGRATION
    aside.mkdir()
    shutil.copytree(results / "bf16-check", aside / "bf16-check")  # the checked copy
    (results / "bf16-check").rename(aside / "bf16-check.old")  # the first rename, then the kill
    assert "interrupted store migrate left bf16-check, bf16-check.old" in check_all(results)[0]
    for operation in (
        lambda: run_sweep(REPO / "configs" / "bf16-check.yaml", "full", results_dir=results, aggregate_only=True),
        lambda: derive_all(results, DERIVATIONS),
    ):
        with pytest.raises(ResultsError, match="run python -m predefined_prototypes store migrate to finish it"):
            operation()
    assert not (results / "bf16-check").exists()
    (results / "bf16-check").mkdir()  # what an older sweep wrote at this point
    with pytest.raises(ResultsError, match="nothing was removed"):
        migrate(results)
    assert sorted(p.name for p in (aside / "bf16-check.old" / "runs").iterdir()) == stored
    (results / "bf16-check").rmdir()
    migrate(results)
    assert sorted(p.name for p in (results / "bf16-check" / "runs").iterdir()) == stored
    assert not aside.exists() and check_all(results) == []
    # A migrate waits for no one: while a sweep or derive holds the store, it refuses, and the reverse.
    with store_lock(results):
        with pytest.raises(SweepLocked, match="a sweep or derive is using it"):
            migrate(results)
    with store_lock(results, exclusive=True):
        with pytest.raises(SweepLocked, match="store migrate is rewriting it"):
            derive_all(results, DERIVATIONS)


def test_seal_refuses_a_sweep_whose_manifest_git_remembers(tmp_path):
    """A deleted manifest.json looks like a store from before manifests; git's history tells them
    apart, and seal refuses rather than record whatever the files now hold."""
    from predefined_prototypes.storage.check import lost_manifests, seal

    results = tmp_path / "results"
    (results / "demo").mkdir(parents=True)
    (results / "demo" / "manifest.json").write_text("{}\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "store"], cwd=tmp_path, check=True)
    assert lost_manifests(results) == []
    (results / "demo" / "manifest.json").unlink()
    assert lost_manifests(results) == [str(results / "demo" / "manifest.json")]
    with pytest.raises(ResultsError, match="once had a manifest.json .* nothing sealed"):
        seal(results)
