"""Nothing wrong passes a check: each case an adversarial pass once found passing, or ending in a
traceback, now fails loudly, named, before any work.

Store content (``store check``, as ``git fsck``): every stored file against the SHA-256 recorded
when the store wrote it, every table cell against the row its summary rebuilds to, no symbolic
link. Models (``load_run``): the weights' header names their run, the prototypes are the
configuration's. Derived tables: never re-derived from an edited table, byte-identical when their
inputs did not change. Names and bounds: checked before any work.
"""

import csv
import io
import json
import os
import shutil
import time
import zipfile

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from test_cli_errors import TINY, assert_one_line_error, cli

from predefined_prototypes.experiments.derivations import DERIVATIONS, geometry
from predefined_prototypes.experiments.plan import load_sweep
from predefined_prototypes.run.config import ConfigError, RunConfig
from predefined_prototypes.storage.check import check_store
from predefined_prototypes.storage.derive import derive, derive_all
from predefined_prototypes.storage.migrate import migrate
from predefined_prototypes.storage.results import derived, load_results
from predefined_prototypes.storage.store import ResultsError, read_table

PLAIN = "novel-classes"  # a sweep without derived tables
DERIVED_SWEEP = "main-emodb"  # a sweep with one


@pytest.fixture
def store(tmp_path):
    for sweep in (PLAIN, DERIVED_SWEEP):
        shutil.copytree(REPO / "results" / sweep, tmp_path / sweep, ignore=shutil.ignore_patterns(".*"))
    assert check_store(tmp_path) == []
    return tmp_path


def first_run(results, sweep=PLAIN):
    return sorted((results / sweep / "runs").iterdir())[0]


def problems(results) -> str:
    found = check_store(results)
    assert found, "store check passed a store that is not as stored"
    return "\n".join(found)


def edit_summary(folder, change):
    record = json.loads((folder / "metrics.json").read_text())
    change(record)
    (folder / "metrics.json").write_text(json.dumps(record, indent=1, sort_keys=True))


@pytest.mark.slow
def test_an_edited_accuracy_in_a_summary_is_found(store):
    folder = first_run(store)
    edit_summary(folder, lambda r: r["metrics"].update(accuracy=0.999))
    found = problems(store)
    assert f"{folder / 'metrics.json'}: its SHA-256 is not the one recorded" in found
    assert "cell(s) disagree with the stored summaries" in found and "accuracy" in found


@pytest.mark.slow
def test_an_edited_history_in_a_summary_is_found(store):
    folder = first_run(store)
    edit_summary(folder, lambda r: r["history"][0].update(train_loss=0.1))
    assert f"{folder / 'metrics.json'}: its SHA-256 is not the one recorded" in problems(store)


@pytest.mark.slow
def test_an_edited_table_cell_is_found_and_named(store):
    table = store / PLAIN / "full.csv"
    rows = list(csv.reader(io.StringIO(table.read_text())))
    rows[1][rows[0].index("accuracy")] = "0.999"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    table.write_text(buffer.getvalue())
    found = problems(store)
    assert f"{table}: its SHA-256" in found
    assert "accuracy '0.999' where its summary gives" in found


@pytest.mark.parametrize("change", ["extra column", "column removed"])
def test_an_added_or_removed_column_is_found(store, change):
    table = store / PLAIN / "full.csv"
    frame = read_table(table)
    frame = frame.assign(note="x") if change == "extra column" else frame.drop(columns="accuracy")
    frame.to_csv(table, index=False)
    found = problems(store)
    assert (
        "column(s) note that no summary holds" if change == "extra column" else "column(s) accuracy missing"
    ) in found


@pytest.mark.slow
def test_a_float_cut_by_three_bytes_is_found(store):
    table = store / PLAIN / "full.csv"
    rows = list(csv.reader(io.StringIO(table.read_text())))
    column = rows[0].index("ece")
    rows[-1][column] = rows[-1][column][:-3]  # 0.041779794044399375 -> 0.0417797940443993
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    table.write_text(buffer.getvalue())
    found = problems(store)
    assert f"{table}: its SHA-256" in found and "disagree with the stored summaries" in found


@pytest.mark.slow
def test_a_run_folder_linked_outside_results_is_refused(store, tmp_path_factory):
    folder = first_run(store)
    outside = tmp_path_factory.mktemp("outside") / folder.name
    shutil.move(folder, outside)
    folder.symlink_to(outside, target_is_directory=True)
    assert f"{folder}: a symbolic link" in problems(store)


@pytest.mark.slow
def test_a_truncated_embeddings_file_is_found(store):
    path = first_run(store) / "embeddings.npz"
    path.write_bytes(path.read_bytes()[:-100])
    assert f"{path}: its SHA-256 is not the one recorded" in problems(store)


@pytest.mark.slow
def test_a_file_the_store_never_wrote_is_found(store):
    stray = first_run(store) / "notes.txt"
    stray.write_text("x")
    assert f"{stray}: not written by the store" in problems(store)


@pytest.mark.slow
def test_derive_refuses_an_edited_table_rather_than_laundering_it(store):
    table = store / DERIVED_SWEEP / "full.csv"
    frame = read_table(table)
    frame.loc[0, "accuracy"] = 0.999
    frame.to_csv(table, index=False)
    assert "disagree with the stored summaries" in problems(store)
    with pytest.raises(ResultsError, match="nothing derived"):
        derive(DERIVED_SWEEP, "full", store, DERIVATIONS)
    with pytest.raises(ResultsError, match="nothing derived"):
        derive_all(store, DERIVATIONS, every=True)
    assert "disagree with the stored summaries" in problems(store)  # still an error, not "fixed"


@pytest.mark.slow
def test_re_deriving_is_byte_identical(store):
    folder = store / DERIVED_SWEEP / "derived"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert derive_all(store, DERIVATIONS, every=True) == []
    os.remove(folder / "full-curves.csv")  # lost: rebuilt from the same inputs, byte for byte
    (store / DERIVED_SWEEP / "derived" / "full.json").write_text(
        json.dumps({**json.loads((folder / "full.json").read_text()), "inputs": {}}, indent=1)
    )
    assert [p.name for p in derive_all(store, DERIVATIONS, every=True)] == ["full-curves.csv"]
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "full.json"} == {
        k: v for k, v in before.items() if k != "full.json"
    }


def test_derived_rows_recomputed_from_scratch_match_the_committed_ones():
    """On a sample of real runs: geometry (a float computation on the stored embeddings) to 1e-6
    relative on any CPU, exactly on most; learning curves (copied from the summaries) exactly."""
    sweep = "ablation-prototypes"
    runs = load_results(sweep, "full").head(4)
    committed = derived(sweep, "geometry", "full").set_index("run_id").loc[runs["run_id"]]
    now = geometry(sweep, runs, REPO / "results").set_index("run_id")
    assert np.allclose(now.to_numpy(float), committed[now.columns].to_numpy(float), rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_an_interrupted_migrate_leaves_the_store_as_it_was(store, monkeypatch):
    from predefined_prototypes.storage import migrate as migrate_module

    folder = first_run(store)
    edit_summary(folder, lambda r: r.pop("schema_version"))  # a summary an older version wrote
    from predefined_prototypes.storage.manifest import record_files

    record_files(store / PLAIN, [folder / "metrics.json"])
    before = {p: p.read_bytes() for p in (store / PLAIN).rglob("*") if p.is_file() and p.name != ".lock"}
    real = migrate_module.atomic_write

    def unwritable(path, write):
        if str(path).endswith("full.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        real(path, write)

    monkeypatch.setattr(migrate_module, "atomic_write", unwritable)
    with pytest.raises(PermissionError):
        migrate(store)
    assert {p: p.read_bytes() for p in (store / PLAIN).rglob("*") if p.is_file() and p.name != ".lock"} == before
    assert not (store / ".migrate").exists()
    monkeypatch.setattr(migrate_module, "atomic_write", real)
    assert any("summaries at schema" in line for line in migrate(store))
    assert check_store(store) == []
    assert migrate(store) == []  # a no-op reads and writes nothing


# --- models that prove their run ------------------------------------------------------------


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, fsdd_small):
    from predefined_prototypes.run.train import run

    out = tmp_path_factory.mktemp("runs")
    folders = []
    for seed in (0, 1):
        config = RunConfig.from_dict(
            dict(**TINY, loss="prototypes", seed=seed, fail_at_chance=False, data_dir=str(fsdd_small))
        )
        folder = out / config.run_id()
        run(RunConfig.from_dict(dict(**{**config.to_dict(), "out": str(folder)})), progress=False)
        folders.append(folder)
    return folders


@pytest.mark.slow
def test_another_seeds_weights_in_a_folder_are_refused(two_seeds, tmp_path):
    from predefined_prototypes.experiments.run_folder import WrongModel, load_run

    seed0, seed1 = two_seeds
    copy = tmp_path / seed0.name
    shutil.copytree(seed0, copy)
    shutil.copy(seed1 / "model.safetensors", copy / "model.safetensors")
    with pytest.raises(WrongModel, match="belong to another run"):
        load_run(copy)
    assert load_run(seed0).config.seed == 0


@pytest.mark.slow
def test_prototypes_scaled_in_the_weights_are_refused(two_seeds, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from predefined_prototypes.experiments.run_folder import WrongModel, load_run

    copy = tmp_path / two_seeds[0].name
    shutil.copytree(two_seeds[0], copy)
    with safe_open(copy / "model.safetensors", "pt") as f:
        header = f.metadata()
    state = load_file(copy / "model.safetensors")
    key = next(k for k in state if k.endswith("prototypes.matrix"))
    state[key] = state[key] * 10
    save_file(state, copy / "model.safetensors", metadata=header)
    with pytest.raises(WrongModel, match="SHA-256 is not the one its run recorded"):
        load_run(copy)
    forget_model_digest(copy)  # a run trained before the digest was recorded: the buffer check still holds
    with pytest.raises(WrongModel, match="is not the one the configuration builds"):
        load_run(copy)
    (copy / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WrongModel, match="model.safetensors cannot be read"):
        load_run(copy)


# --- names and bounds, checked before any work ------------------------------------------------


def sweep_file(tmp_path, grid=None, base=None, profiles=None):
    spec = {"description": "t", "base": {**TINY, **(base or {})}, "grid": grid or {"loss": ["ce"]}}
    spec["profiles"] = profiles or {"quick": {}, "full": {}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["../main-fsdd/full", "./full", "../../../escape", "", "a/b"])
def test_a_profile_name_that_is_no_plain_name_is_refused(tmp_path, profile):
    with pytest.raises(ConfigError, match="a profile's name becomes a table's name"):
        load_sweep(sweep_file(tmp_path), profile)
    result, _ = cli("sweep", sweep_file(tmp_path), "--profile", profile, "--results", tmp_path / "results", "--prune")
    assert_one_line_error(result, "a profile's name")
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.csv"))


def test_an_empty_fold_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="empty fold"):
        load_sweep(sweep_file(tmp_path, grid={"fold": [None]}), "quick")
    with pytest.raises(ConfigError, match="empty fold"):
        load_sweep(sweep_file(tmp_path, base={"fold": None}), "quick")


@pytest.mark.slow
def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path):
    grid = {"seed": list(range(1000)), "lr": [0.001 * (i + 1) for i in range(1000)], "epochs": list(range(1, 1001))}
    result, seconds = cli("sweep", sweep_file(tmp_path, grid=grid), "--dry-run")
    assert_one_line_error(result, "a grid of 1,000,000,000 runs")
    assert seconds < 30


@pytest.mark.parametrize(
    "arg, needle",
    [
        ("clip_seconds=600", "clip_seconds must be between"),
        ("embed_dim=100000000", "embed_dim must be at most 4096"),
        ("channels=100000", "channels must be at most 256"),
        ("epochs=1e20", "epochs='1e20' is not a valid int"),
        ("epochs=100000", "epochs must be at most 10000"),
        ("seed=4294967296", "seed must be between 0 and 4294967295"),
    ],
)
def test_sizes_that_would_exhaust_the_machine_are_refused_at_once(arg, needle):
    result, seconds = cli("train", arg)
    assert_one_line_error(result, needle)
    assert seconds < 10


def test_a_float_epoch_count_from_yaml_is_bounded_too():
    with pytest.raises(ConfigError, match="epochs must be at most 10000"):
        RunConfig.from_dict(dict(epochs=1e20))


def test_integral_options_are_one_value_with_one_id():
    four = RunConfig(dataset="emodb", dataset_options={"classes": 4})
    assert RunConfig(dataset="emodb", dataset_options={"classes": 4.0}).run_id() == four.run_id()
    assert RunConfig.from_dict(dict(epochs=4.0)).run_id() == RunConfig.from_dict(dict(epochs=4)).run_id()


def test_a_key_given_twice_on_the_command_line_is_refused():
    result, _ = cli("train", "epochs=2", "epochs=3")
    assert_one_line_error(result, "epochs is given twice")


def test_a_machine_path_never_enters_a_run_id():
    assert RunConfig(data_dir="/data/fsdd", device="cpu").run_id() == RunConfig().run_id()


# --- one-line errors, not tracebacks ------------------------------------------------------------


@pytest.mark.slow
def test_a_summary_without_its_fold_is_named(store):
    folder = first_run(store)
    edit_summary(folder, lambda r: r["data"].pop("fold"))
    assert f"{folder / 'metrics.json'} lacks data.fold" in problems(store)


@pytest.mark.slow
def test_a_table_without_run_id_or_not_utf8_is_named(store):
    table = store / PLAIN / "full.csv"
    text = table.read_text()
    table.write_text(text.replace("run_id", "id", 1))
    assert "has no run_id column" in problems(store)
    table.write_bytes(b"\xff\xfe" + text.encode())
    assert "is not UTF-8 text" in problems(store)


@pytest.mark.slow
def test_a_damaged_embeddings_file_in_derive_names_the_file(store):
    from predefined_prototypes.storage.results import load_stored_run

    path = store / DERIVED_SWEEP / "runs" / first_run(store, DERIVED_SWEEP).name / "embeddings.npz"
    path.write_bytes(b"PK\x03\x04 damaged")
    with pytest.raises(ResultsError, match="embeddings.npz cannot be read"):
        load_stored_run(DERIVED_SWEEP, path.parent.name, store)
    assert zipfile  # the error a bare np.load raises here is zipfile.BadZipFile, with no file named


@pytest.mark.slow
def test_a_trailing_blank_line_leaves_a_table_readable(store):
    table = store / PLAIN / "full.csv"
    table.write_text(table.read_text() + "\n\n")
    assert len(read_table(table)) == len(read_table(REPO / "results" / PLAIN / "full.csv"))
    assert f"{table}: its SHA-256" in problems(store)  # but it is not as stored


@pytest.mark.slow
def test_aggregate_only_rebuilds_a_table_that_no_longer_parses(store):
    table = store / PLAIN / "full.csv"
    lines = table.read_text().splitlines()
    table.write_text("\n".join([*lines[:5], lines[5][:40], *lines[6:]]) + "\n")  # a cut line
    assert "field(s) where the header has" in problems(store)
    shutil.copy(REPO / "configs" / f"{PLAIN}.yaml", store / f"{PLAIN}.yaml")
    result, _ = cli(
        "sweep",
        store / f"{PLAIN}.yaml",
        "--profile",
        "full",
        "--aggregate-only",
        "--results",
        store,
        "--runs",
        store / "x",
    )
    assert result.returncode == 0, result.stderr
    assert check_store(store) == []
    assert read_table(table).equals(read_table(REPO / "results" / PLAIN / "full.csv")[read_table(table).columns])


@pytest.mark.slow
def test_migrate_on_a_read_only_filesystem_is_one_line(store, monkeypatch, capsys):
    from predefined_prototypes import __main__
    from predefined_prototypes.storage import migrate as migrate_module

    def read_only(results_dir):
        raise OSError(30, "Read-only file system", f"{results_dir}/.migrate")

    monkeypatch.setattr(migrate_module, "migrate", read_only)
    code = __main__.main(["store", "migrate", "--results", str(store)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Read-only file system" in err[0] and "as it was before" in err[0]


def test_dotted_overrides_reach_mapping_fields_and_keep_the_typed_checks():
    assert RunConfig.from_args(["dataset=emodb", "dataset_options.classes=4"]).dataset_options == {"classes": 4}
    same = RunConfig.from_args(["dataset=emodb", 'dataset_options={"classes": 4}'])
    assert same.run_id() == RunConfig.from_args(["dataset=emodb", "dataset_options.classes=4"]).run_id()
    with pytest.raises(ConfigError, match="emodb option classes=5 is not valid"):
        RunConfig.from_args(["dataset=emodb", "dataset_options.classes=5"])
    with pytest.raises(ConfigError, match="only mapping fields take dotted keys"):
        RunConfig.from_args(["epochs.x=4"])
    with pytest.raises(ConfigError, match="given twice"):
        RunConfig.from_args(["dataset_options.classes=4", "dataset_options.classes=7"])


def forget_model_digest(folder):
    record = json.loads((folder / "metrics.json").read_text())
    record.pop("model_sha256")
    (folder / "metrics.json").write_text(json.dumps(record))


@pytest.mark.slow
def test_a_model_with_one_changed_weight_or_a_consistent_forgery_is_refused(two_seeds, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from predefined_prototypes.experiments.run_folder import WrongModel, load_run

    seed0, seed1 = two_seeds
    with safe_open(seed0 / "model.safetensors", "pt") as f:
        header = f.metadata()
    own, other = load_file(seed0 / "model.safetensors"), load_file(seed1 / "model.safetensors")
    copy = tmp_path / seed0.name
    shutil.copytree(seed0, copy)
    key = next(k for k in own if k.startswith("model.") and own[k].is_floating_point() and own[k].dim() > 1)
    changed = {**own, key: own[key].clone()}
    changed[key].view(-1)[0] += 1.0  # one weight
    save_file(changed, copy / "model.safetensors", metadata=header)
    with pytest.raises(WrongModel, match="SHA-256 is not the one its run recorded"):
        load_run(copy)
    forget_model_digest(copy)  # without the digest, NaN weights are still refused
    changed[key] = torch.full_like(own[key], float("nan"))
    save_file(changed, copy / "model.safetensors", metadata=header)
    with pytest.raises(WrongModel, match="NaN or infinite"):
        load_run(copy)
    # Another seed's learned weights under this run's header and prototype buffer: the classifier
    # is not the one this run evaluated.
    forged = {k: (own[k] if k.startswith("objective.") else v) for k, v in other.items()}
    save_file(forged, copy / "model.safetensors", metadata=header)
    with pytest.raises(WrongModel, match="classifier is not the one the run evaluated"):
        load_run(copy)
    assert load_run(seed0).config.seed == 0
    assert len(json.loads((seed0 / "metrics.json").read_text())["model_sha256"]) == 64


@pytest.mark.slow
def test_novel_classes_that_leave_nothing_to_compare_are_refused_before_training(fsdd_small):
    from predefined_prototypes.run.splits import split_clips

    for bad in ("0", "0,0"):
        with pytest.raises(ConfigError, match="hold out at least 2 distinct classes"):
            RunConfig.from_dict({"loss": "ce", "novel_classes": bad})
    every = RunConfig.from_dict(
        {
            "loss": "ce",
            "dataset": "fsdd",
            "data_dir": str(fsdd_small),
            "fold": "official",
            "novel_classes": "0,1,2,3,4,5,6,7,8,9",
        }
    )
    with pytest.raises(ValueError, match="holds out 10 of fsdd's 10 classes: leave at least 2 to train on"):
        split_clips(every)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    from predefined_prototypes.experiments.plan import read_sweep_file

    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("base:\n  extra:\n" + "\n".join(f"    {line}" for line in levels) + "\ngrid: []\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"expands to [\d,]+ values, more than the 100,000"):
        read_sweep_file(path)
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_aggregate_only_refuses_an_edited_summary_and_writes_nothing(store):
    from predefined_prototypes.storage.store import write_table

    table = store / PLAIN / "full.csv"
    before, manifest = table.read_bytes(), (store / PLAIN / "manifest.json").read_bytes()
    edit_summary(first_run(store), lambda r: r["metrics"].update(accuracy=0.999))
    runs = load_sweep(REPO / "configs" / f"{PLAIN}.yaml", "full", store / "x")
    with pytest.raises(
        ResultsError, match=r"metrics.json is not the summary the store recorded .* nothing was written"
    ):
        write_table(runs, store)
    assert table.read_bytes() == before and (store / PLAIN / "manifest.json").read_bytes() == manifest


def test_a_long_error_is_one_line_that_names_the_first_file_and_counts_the_rest(capsys):
    from predefined_prototypes.__main__ import MAX_ERROR, error

    files = [f"results/sweep/runs/{i:012d}/metrics.json: its SHA-256 differs" for i in range(300)]
    error(f"{len(files)} problem(s):\n" + "\n".join(files))
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and files[0] in said and len(said) < MAX_ERROR + 60
    assert said.rstrip().endswith("more characters)")
