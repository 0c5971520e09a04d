"""Nothing stored is wrong and nothing stored is silently dropped: each case here once stored a
wrong row, dropped a real one, deleted another sweep's runs, trusted damaged bytes or ended in a
traceback. Each now ends in a named refusal, a one-line error (exit 2) or a rebuild."""

import gzip
import io
import json
import os
import shutil
import stat
import tarfile
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml
from conftest import REPO
from test_cli_errors import TINY, assert_one_line_error, cli

from predefined_prototypes.data.audio import AudioFileError, Clip, check_clips
from predefined_prototypes.data.download import DownloadError, download
from predefined_prototypes.experiments.plan import load_sweep, read_sweep_file
from predefined_prototypes.run.cache import cached
from predefined_prototypes.run.config import ConfigError, RunConfig
from predefined_prototypes.storage.results import load_results
from predefined_prototypes.storage.store import ResultsError, stored_dir, write_table

RESULTS = REPO / "results"
STORED = RESULTS / "main-fsdd"


def finished(run, results):
    """Store a real committed summary, with ``run``'s configuration, under its id."""
    source = sorted((STORED / "runs").iterdir())[0]
    target = stored_dir(results, run.sweep, run.run_id)
    target.mkdir(parents=True)
    record = json.loads((source / "metrics.json").read_text())
    record["config"] = {**run.settings, "out": None}
    (target / "metrics.json").write_text(json.dumps(record))
    shutil.copy(source / "embeddings.npz", target / "embeddings.npz")


def write_sweep(path, grid, profiles=None):
    spec = {"description": "t", "base": TINY, "grid": grid, "profiles": profiles or {"quick": {}}}
    path.write_text(yaml.safe_dump(spec))
    return path


# 1. A finished run whose settings do not match its id is refused (and named) by --aggregate-only.
@pytest.mark.slow
def test_aggregate_only_refuses_a_run_trained_with_other_settings(tmp_path):
    path = write_sweep(tmp_path / "s.yaml", {"loss": ["ce"]})
    (run,) = load_sweep(path, "quick", runs_dir=tmp_path / "runs")
    finished(run, tmp_path / "elsewhere")
    out = tmp_path / "runs" / "s" / run.run_id
    shutil.copytree(stored_dir(tmp_path / "elsewhere", "s", run.run_id), out)
    record = json.loads((out / "metrics.json").read_text())
    record["config"]["lr"] = 0.03
    (out / "metrics.json").write_text(json.dumps(record))
    result, _ = cli("sweep", path, "--aggregate-only", "--runs", tmp_path / "runs", "--results", tmp_path / "results")
    assert_one_line_error(result, f"holds a run whose configuration is not run {run.run_id}'s", "lr: 0.03 for")
    assert not (tmp_path / "results" / "s" / "runs" / run.run_id).exists()


# 2. A malformed line, or a row without its summary, is an error naming the file.
def test_a_malformed_line_or_a_row_without_summary_is_named(tmp_path):
    shutil.copytree(STORED, tmp_path / "main-fsdd")
    table = tmp_path / "main-fsdd" / "full.csv"
    lines = table.read_text().splitlines()
    broken = lines[:3] + ['"unterminated,1,2'] + lines[3:]
    table.write_text("\n".join(broken) + "\n")
    with pytest.raises(ResultsError, match=r"full.csv, line 4: \d+ field\(s\) where the header has"):
        load_results("main-fsdd", "full", results_dir=tmp_path)
    table.write_text("\n".join(lines[:-1] + [lines[-1][: len(lines[-1]) // 2]]) + "\n")  # cut mid-row
    with pytest.raises(ResultsError, match=f"full.csv, line {len(lines)}:"):
        load_results("main-fsdd", "full", results_dir=tmp_path)
    table.write_text("\n".join(lines) + "\n")
    shutil.rmtree(sorted((tmp_path / "main-fsdd" / "runs").iterdir())[0])
    with pytest.raises(ResultsError, match="row.* has no stored summary"):
        load_results("main-fsdd", "full", results_dir=tmp_path)


# 3. A sweep file's stem is a plain name.
@pytest.mark.parametrize("name", ["...yaml", "..yaml", ".hidden.yaml", "a b.yaml"])
def test_a_sweep_file_name_that_is_no_plain_name_is_refused(tmp_path, name):
    (tmp_path / name).write_text("base: {}\n")
    with pytest.raises(ConfigError, match="use letters, digits"):
        read_sweep_file(tmp_path / name)


# 4. --prune touches the rows and runs of its own profile only, and --dry-run --prune lists them.
@pytest.mark.slow
def test_prune_of_one_profile_leaves_another_profiles_rows_and_runs(tmp_path):
    profiles = {"quick": {"base": {"channels": 2}}, "full": {"grid": {"seed": [0, 1]}}}
    path = write_sweep(tmp_path / "p.yaml", {"loss": ["ce", "focal"]}, profiles)
    results = tmp_path / "results"
    full, quick = load_sweep(path, "full"), load_sweep(path, "quick")
    for run in full + quick:
        finished(run, results)
    write_table(full, results)
    write_table(quick, results)
    write_sweep(path, {"loss": ["ce"]}, profiles)  # focal leaves the plan
    dry, _ = cli("sweep", path, "--profile", "quick", "--dry-run", "--prune", "--results", results)
    focal_quick = [r.run_id for r in quick if r.settings["loss"] == "focal"]
    assert "--prune would take out 1 row(s)" in dry.stdout and f"  prune  {focal_quick[0]}" in dry.stdout
    result, _ = cli("sweep", path, "--profile", "quick", "--aggregate-only", "--prune", "--results", results)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(results / "p" / "full.csv")) == 4  # the full profile: untouched
    for run in full:
        assert (stored_dir(results, "p", run.run_id) / "metrics.json").is_file()
    assert not stored_dir(results, "p", focal_quick[0]).exists()
    assert list(pd.read_csv(results / "p" / "quick.csv")["run_id"]) == [r.run_id for r in load_sweep(path, "quick")]


# 5. A truncated stored summary is named by --dry-run (not counted finished) and stops the sweep.
@pytest.mark.slow
def test_a_truncated_stored_summary_is_named_not_counted(tmp_path):
    path = write_sweep(tmp_path / "t.yaml", {"loss": ["ce", "focal"]})
    results = tmp_path / "results"
    runs = load_sweep(path, "quick")
    for run in runs:
        finished(run, results)
    summary = stored_dir(results, "t", runs[0].run_id) / "metrics.json"
    summary.write_text(summary.read_text()[:500])
    dry, _ = cli("sweep", path, "--dry-run", "--results", results, "--runs", tmp_path / "runs")
    assert "1 finished" in dry.stdout and f"  broken  {runs[0].run_id}  {summary} does not read" in dry.stdout
    result, _ = cli("sweep", path, "--results", results, "--runs", tmp_path / "runs")
    assert_one_line_error(result, str(summary), "cannot be read")


# 6. Damaged cache contents are detected and rebuilt.
def test_flipped_bits_in_a_cache_entry_are_rebuilt(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return {"x": torch.arange(1000, dtype=torch.float32)}

    cached("demo", "k", make, tmp_path)
    path = next(tmp_path.glob("demo-*.pt"))
    raw = bytearray(path.read_bytes())
    position = raw.rfind(np.arange(1000, dtype=np.float32)[500:502].tobytes())
    raw[position] ^= 0x10  # one bit of one value
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="does not match its checksum"):
        again = cached("demo", "k", make, tmp_path)
    assert again["x"].tolist() == list(range(1000)) and len(calls) == 2


# 7, 10, 12 and 9 (inf, 0.001): bounds, finiteness and empty values at config time.
@pytest.mark.parametrize(
    "args, needle",
    [
        (["num_mel_bins=100000"], "num_mel_bins must be at most 256"),
        (["clip_seconds=inf"], "clip_seconds must be a finite number"),
        (["clip_seconds=0.001"], "one 25 ms analysis window"),
        (["lr=inf"], "lr must be a finite number"),
        (["scale=inf"], "scale must be a finite number"),
        (["lam=nan"], "lam must be a finite number"),
        (["seed=-1"], "seed must be between 0 and"),
        (["fold="], "fold= is empty"),
        (["out="], "out= is empty"),
    ],
)
def test_values_that_would_fail_later_are_refused_at_once(args, needle):
    result, seconds = cli("train", *args)
    assert_one_line_error(result, needle)
    assert seconds < 10


# 8. NaN samples are caught when the dataset is checked, naming the file; on_error=skip skips it.
def test_nan_samples_name_the_file(tmp_path):
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(good, np.zeros(1600, dtype="float32"), 16000, subtype="FLOAT")
    samples = np.zeros(1600, dtype="float32")
    samples[100] = np.nan
    sf.write(bad, samples, 16000, subtype="FLOAT")
    clips = [Clip(good, 0, "a"), Clip(bad, 0, "a")]
    with pytest.raises(AudioFileError, match=f"{bad} holds NaN or infinite samples"):
        check_clips(clips)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept, skipped = check_clips(clips, on_error="skip")
    assert kept == clips[:1] and "bad.wav" in skipped[0]


# 9. User errors and environment faults in one line.
@pytest.mark.slow
def test_a_non_audio_file_in_a_dataset_folder_is_named_by_a_sweep(fsdd_small, tmp_path):
    root = tmp_path / "fsdd"
    shutil.copytree(fsdd_small, root)
    (root / "recordings" / "README.wav").write_text("not audio")
    path = write_sweep(tmp_path / "r.yaml", {"loss": ["ce"], "data_dir": [str(root)]})
    result, _ = cli("sweep", path, "--results", tmp_path / "results", "--runs", tmp_path / "runs")
    assert_one_line_error(result, "unexpected FSDD file name", "README.wav")


def test_a_full_disk_is_one_line_and_changes_nothing(tmp_path, monkeypatch, capsys):
    from predefined_prototypes import __main__
    from predefined_prototypes.experiments import sweep

    path = write_sweep(tmp_path / "d.yaml", {"loss": ["ce"]})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "results" / "d"))

    monkeypatch.setattr(sweep, "write_table", full_disk)
    code = __main__.main(["sweep", str(path), "--aggregate-only", "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "No space left on device" in err[0] and "taken back out" in err[0]


def test_a_truncated_archive_is_a_download_error(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = os.urandom(200_000)
        info = tarfile.TarInfo("fsdd/recordings/0_a_0.wav")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert gzip.decompress  # a gzip stream cut in half
    with pytest.raises(DownloadError, match="damaged or cut short"):
        download("fsdd", tmp_path / "to", url=cut.as_uri(), allow_unverified=True)
    assert not (tmp_path / "to").exists()


def test_a_yaml_date_in_extra_is_refused_even_in_a_dry_run(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({"base": {**TINY, "extra": {"when": "x"}}, "profiles": {"quick": {}}}))
    path.write_text(path.read_text().replace("when: x", "when: 2024-01-01"))
    with pytest.raises(ConfigError, match="extra must hold plain values"):
        load_sweep(path, "quick")
    with pytest.raises(ConfigError, match="extra must hold plain values"):
        RunConfig(extra={"when": object()})


# 11. Duplicate keys in a sweep file name the key and line.
def test_a_key_given_twice_is_an_error_naming_it(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("base:\n  lr: 0.1\n  lr: 0.2\nprofiles:\n  quick: {}\n")
    with pytest.raises(ConfigError, match=r"at line 3, column 3: key 'lr' is given twice"):
        read_sweep_file(path)
    path.write_text("profiles:\n  quick: {}\n  quick: {base: {epochs: 1}}\n")
    with pytest.raises(ConfigError, match="key 'quick' is given twice"):
        read_sweep_file(path)


def test_a_sweep_file_that_is_not_utf8_is_an_error_naming_it(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml is not UTF-8 text .* save it as UTF-8"):
        read_sweep_file(path)


# 13. Rewritten files keep their permissions; new ones follow the umask.
def test_rewrites_keep_permissions_and_new_folders_follow_the_umask(tmp_path):
    path = write_sweep(tmp_path / "m.yaml", {"loss": ["ce", "focal"]})
    results = tmp_path / "results"
    runs = load_sweep(path, "quick")
    finished(runs[0], results)
    write_table(runs, results)
    table = results / "m" / "quick.csv"
    table.chmod(0o644)
    finished(runs[1], results)
    write_table(runs, results)
    assert stat.S_IMODE(table.stat().st_mode) == 0o644 and len(pd.read_csv(table)) == 2
    from predefined_prototypes.storage.plans import Run
    from predefined_prototypes.storage.store import store

    old = os.umask(0o022)
    try:
        (other,) = load_sweep(write_sweep(tmp_path / "n.yaml", {"loss": ["ce"]}), "quick")
        local = tmp_path / "local"
        finished(other, tmp_path / "local-results")
        shutil.copytree(stored_dir(tmp_path / "local-results", "n", other.run_id), local)
        store(Run(other.sweep, other.profile, other.run_id, other.settings, str(local)), results)
    finally:
        os.umask(old)
    folder = stored_dir(results, "n", other.run_id)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "metrics.json").stat().st_mode) == 0o644


def test_the_reading_side_refuses_an_edited_table(tmp_path):
    """A table edited by hand (one accuracy cell) is refused by the one reader of results, naming the
    file, before any page or verdict reads it; the stored table as written reads."""
    from predefined_prototypes.storage.results import ResultsError, load_results

    shutil.copytree(REPO / "results" / "claim1-ravdess", tmp_path / "claim1-ravdess")
    assert len(load_results("claim1-ravdess", "full", tmp_path)) == 72
    table = tmp_path / "claim1-ravdess" / "full.csv"
    rows = pd.read_csv(table)
    rows.loc[rows["loss"] == "prototypes", "accuracy"] += 0.08
    rows.to_csv(table, index=False)
    with pytest.raises(ResultsError, match=r"full\.csv: its SHA-256 is not the one the store recorded"):
        load_results("claim1-ravdess", "full", tmp_path)


def test_store_check_recomputes_each_runs_accuracy_from_its_stored_predictions(tmp_path):
    """A summary edited and its digest rewritten in the manifest (a consistent rewrite of that
    file) still disagrees with the run's stored test predictions, and store check says so."""
    from predefined_prototypes.storage.check import check_sweep
    from predefined_prototypes.storage.manifest import file_digest

    sweep = tmp_path / "main-fsdd"
    shutil.copytree(STORED, sweep)
    assert check_sweep(sweep) == []
    run = sorted((sweep / "runs").iterdir())[0]
    record = json.loads((run / "metrics.json").read_text())
    record["metrics"]["accuracy"] = min(1.0, record["metrics"]["accuracy"] + 0.05)
    (run / "metrics.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    manifest = json.loads((sweep / "manifest.json").read_text())
    name = f"runs/{run.name}/metrics.json"
    manifest["files"][name] = file_digest(run / "metrics.json")
    (sweep / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    problems = check_sweep(sweep)
    assert any("but its stored predictions give" in p and run.name in p for p in problems), problems


@pytest.mark.parametrize(
    "field, value", [("history", None), ("data", "fold"), ("config", []), ("metrics", None), ("data", {"fold": "x"})]
)
def test_a_summary_of_the_wrong_shape_is_named_not_a_traceback(tmp_path, field, value):
    from predefined_prototypes.storage.check import check_sweep

    sweep = tmp_path / "main-fsdd"
    shutil.copytree(STORED, sweep)
    summary = sorted((sweep / "runs").iterdir())[0] / "metrics.json"
    record = json.loads(summary.read_text())
    record[field] = value
    summary.write_text(json.dumps(record))
    problems = check_sweep(sweep)  # every finding, no traceback
    assert any(str(summary) in p for p in problems)
    assert field == "data" and isinstance(value, dict) or any(f"{field} (" in p for p in problems), problems


def test_prune_takes_the_sweeps_own_file_not_another_of_the_same_name(tmp_path):
    from predefined_prototypes.experiments.sweep import run_sweep

    for folder in ("configs", "elsewhere"):
        (tmp_path / folder).mkdir()
    own = write_sweep(tmp_path / "configs" / "p.yaml", {"loss": ["ce", "focal"]})
    other = write_sweep(tmp_path / "elsewhere" / "p.yaml", {"loss": ["ce"]})  # the same name, another plan
    results = tmp_path / "results"
    for run in load_sweep(own, "quick"):
        finished(run, results)
    write_table(load_sweep(own, "quick"), results)
    with pytest.raises(ConfigError, match=r"--prune .* takes that file .*configs/p\.yaml\), not .*elsewhere/p\.yaml"):
        run_sweep(other, "quick", results_dir=results, aggregate_only=True, prune_results=True)
    assert len(pd.read_csv(results / "p" / "quick.csv")) == 2  # nothing removed


def test_store_check_names_a_run_whose_recorded_data_differs_from_the_data_here(tiny_emodb, tmp_path):
    from predefined_prototypes.run.config import RunConfig
    from predefined_prototypes.run.splits import data_identity
    from predefined_prototypes.storage.check import data_differs

    config = RunConfig(dataset="emodb", data_dir=str(tiny_emodb))
    record = {"data": {"listing_sha256": data_identity(config)}}
    assert data_differs(tmp_path, record, config, {}) is None  # the same clips: nothing to say
    sorted(tiny_emodb.rglob("*.wav"))[-1].unlink()  # a subset of the data it was trained on
    line = data_differs(tmp_path, record, config, {})
    assert "trained on other data" in line and "listing differs" in line
    gone = RunConfig(dataset="emodb", data_dir=str(tmp_path / "absent"))
    assert data_differs(tmp_path, record, gone, {}) is None  # no data here: nothing to compare
    assert data_differs(tmp_path, {"data": {}}, config, {}) is None  # stored before runs recorded it


def test_a_write_that_fails_leaves_the_manifest_as_it_was(tmp_path, monkeypatch):
    """A full disk while a table is written after its manifest entry: the entry is put back, so
    store check never blames an edit on a write that did not happen."""
    from predefined_prototypes.run import files
    from predefined_prototypes.storage import manifest

    sweep = tmp_path / "s"
    sweep.mkdir()
    manifest.write_recorded(sweep, sweep / "full.csv", b"run_id\nabc\n")
    before = (sweep / "manifest.json").read_bytes()

    def full_disk(path, write):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(
        manifest,
        "atomic_write",
        lambda path, write: full_disk(path, write) if path.suffix == ".csv" else files.atomic_write(path, write),
    )
    for name in ("full.csv", "quick.csv"):  # a file rewritten, and one never written before
        with pytest.raises(OSError, match="No space left"):
            manifest.write_recorded(sweep, sweep / name, b"run_id\nabd\n")
        assert (sweep / "manifest.json").read_bytes() == before and manifest.verify_files(sweep) == []


@pytest.mark.slow
def test_rebuilding_a_correct_table_changes_no_byte(tmp_path):
    """--aggregate-only rebuilds a profile's table from its stored summaries in the one column order
    (``store.column_order``): a committed table comes back byte for byte, and so does its plan."""
    from predefined_prototypes.experiments.sweep import run_sweep

    shutil.copytree(RESULTS / "bf16-check", tmp_path / "bf16-check", ignore=shutil.ignore_patterns(".*"))
    run_sweep(REPO / "configs" / "bf16-check.yaml", "full", results_dir=tmp_path, aggregate_only=True)
    for name in ("full.csv", "plan.json", "manifest.json"):
        assert (tmp_path / "bf16-check" / name).read_bytes() == (RESULTS / "bf16-check" / name).read_bytes(), name
