"""Every user mistake ends in one line on stderr, exit code 2, no traceback, before any long work."""

import resource
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import REPO

NOTEBOOK = str(REPO / "notebooks" / "train.ipynb")
TINY = {"dataset": "fsdd", "fold": "official", "epochs": 1, "channels": 4, "embed_dim": 16, "num_mel_bins": 32}


def cli(*args, cwd=None):
    """The command's result and the CPU seconds it (and its children) spent: how much work ran
    before the answer, which a busy machine's wall clock would overstate."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-m", "predefined_prototypes", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def assert_one_line_error(result, *needles):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def sweep_file(tmp_path, text=None, **spec):
    path = tmp_path / "bad.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(spec))
    return path


@pytest.mark.slow
def test_invalid_yaml_names_file_and_line(tmp_path):
    path = sweep_file(tmp_path, "base: {dataset: fsdd\ngrid: [\n")
    assert_one_line_error(cli("sweep", path)[0], "bad.yaml is not valid YAML at line")


@pytest.mark.parametrize(
    "spec, needle",
    [
        ({"base": TINY, "grid": {"loss": []}, "profiles": {"quick": {}}}, "grid key 'loss' has no values"),
        (
            {"base": TINY, "grid": {"seed": [0, 1]}, "profiles": {"quick": {"grid": {"seed": [0]}}}},
            "seed set by both the grid and profile 'quick'",
        ),
        ({"base": {**TINY, "epochs": 1.5}, "profiles": {"quick": {}}}, "epochs must be a whole number, got 1.5"),
        ({"base": {**TINY, "embed_dim": 32.7}, "profiles": {"quick": {}}}, "embed_dim must be a whole number"),
        ({"base": {**TINY, "clip_seconds": -1}, "profiles": {"quick": {}}}, "clip_seconds must be > 0"),
        (
            {
                "base": {**TINY, "dataset": "emodb", "fold": "03", "loss": "factor_prototypes", "embed_dim": 16},
                "profiles": {"quick": {}},
            },
            "exceeds embed_dim=16: raise embed_dim or lower factor_levels",
        ),
        ({"base": TINY, "grid": "loss", "profiles": {"quick": {}}}, "grid must be a mapping"),
    ],
)
@pytest.mark.slow
def test_bad_sweep_files_fail_when_loaded(tmp_path, spec, needle):
    result, seconds = cli("sweep", sweep_file(tmp_path, **spec), "--dry-run")
    assert_one_line_error(result, needle)
    assert seconds < 10


@pytest.mark.slow
def test_a_fold_the_data_lacks_stops_the_sweep_before_any_run(fsdd_small, tmp_path):
    path = sweep_file(
        tmp_path,
        base={**TINY, "data_dir": str(fsdd_small)},
        grid={"fold": ["official", "alice"]},
        profiles={"quick": {}},
    )
    result, seconds = cli(
        "sweep", path, "--notebook", NOTEBOOK, "--runs", tmp_path / "runs", "--results", tmp_path / "results"
    )
    assert_one_line_error(result, "fold='alice' is not a fold of fsdd here; valid: george, jackson, theo, official")
    assert seconds < 15 and not list(tmp_path.rglob("*.ipynb"))  # no run started
    planned = cli("sweep", path, "--notebook", NOTEBOOK, "--results", tmp_path / "results", "--dry-run")[0]
    assert "2 runs planned" in planned.stdout  # the plan is shown, then the same check fails
    assert_one_line_error(planned, "fold='alice' is not a fold of fsdd here")


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(fsdd_small, tmp_path):
    path = sweep_file(tmp_path, base={**TINY, "data_dir": str(fsdd_small), "device": "cuda"}, profiles={"quick": {}})
    result, _ = cli("sweep", path, "--notebook", NOTEBOOK, "--runs", tmp_path / "runs", "--results", tmp_path / "r")
    assert_one_line_error(result, "device=cuda but this machine has no CUDA device")
    result, _ = cli("train", f"data_dir={fsdd_small}", "fold=official", "device=cuda")
    assert_one_line_error(result, "device=cuda but this machine has no CUDA device")


@pytest.mark.slow
def test_unwritable_folders_are_found_before_training(fsdd_small, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result, seconds = cli("train", f"data_dir={fsdd_small}", "fold=official", "epochs=1", f"out={blocker / 'run'}")
    assert_one_line_error(result, f"out={blocker / 'run'} is not writable")
    assert seconds < 10
    path = sweep_file(tmp_path, base={**TINY, "data_dir": str(fsdd_small)}, profiles={"quick": {}})
    result, _ = cli("sweep", path, "--notebook", NOTEBOOK, "--results", blocker / "results")
    assert_one_line_error(result, "--results=", "is not writable")


@pytest.mark.slow
def test_train_rejects_an_unknown_fold_fast(fsdd_small):
    result, seconds = cli("train", f"data_dir={fsdd_small}", "fold=alice")
    assert_one_line_error(result, "fold='alice' is not a fold of fsdd here")
    assert seconds < 10


@pytest.mark.slow
def test_data_commands(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(cli("data", "folds", "fsdd", "--root", empty)[0], "fsdd: no dataset found at")
    (empty / "recordings").mkdir()
    assert_one_line_error(cli("data", "folds", "fsdd", "--root", empty)[0], "recordings holds no .wav files")
    target = tmp_path / "a-file"
    target.write_text("")
    assert_one_line_error(cli("data", "download", "fsdd", "--to", target)[0], "is a file; --to takes a folder")


@pytest.mark.slow
def test_unreachable_scheduler(fsdd_small, tmp_path):
    path = sweep_file(tmp_path, base={**TINY, "data_dir": str(fsdd_small)}, profiles={"quick": {}})
    result, _ = cli(
        "sweep",
        path,
        "--notebook",
        NOTEBOOK,
        "--runs",
        tmp_path / "runs",
        "--results",
        tmp_path / "results",
        "--scheduler",
        "tcp://127.0.0.1:9",
    )
    assert_one_line_error(result, "cannot reach the Dask scheduler at tcp://127.0.0.1:9")
