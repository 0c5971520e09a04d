"""The paper's own experiments as sweep files: the authors' settings, and quick profiles that run
end to end (papermill, results table) on small trees in each official layout."""

import pandas as pd
import pytest
import yaml
from conftest import REPO, write_esc50_tree, write_iemocap_tree, write_speech_commands_tree

from predefined_prototypes.experiments.plan import load_sweep
from predefined_prototypes.experiments.sweep import run_sweep

PAPER = sorted((REPO / "configs" / "paper").glob("*.yaml"))


@pytest.mark.slow
def test_paper_sweeps_carry_the_authors_settings():
    assert {p.stem for p in PAPER} == {
        f"paper-{d}-{b}" for d in ("esc50", "speech-commands", "iemocap") for b in ("ast", "ecapa")
    }
    for path in PAPER:
        full = load_sweep(path, "full")
        assert load_sweep(path, "quick"), path
        for run in full:
            s = run.settings
            assert (s["num_mel_bins"], s["batch_size"], s["epochs"], s["device"]) == (128, 32, 25, "cuda"), path
            if s["backbone"] == "ast":
                assert s["pretrained"] == "MIT/ast-finetuned-audioset-10-10-0.4593" and s["embed_dim"] == 768
                assert (s["betas"], s["weight_decay"], s["warmup"], s["schedule"], s["lr_decay"]) == (
                    [0.95, 0.999],
                    5e-6,
                    5,
                    "step",
                    0.85,
                )
                assert s["lr"] == (6.25e-5 if s["dataset"] == "speech_commands" else 6.7e-6)
            else:
                assert s["embed_dim"] == 192
        scales = {r.settings["scale"] for r in full if r.settings["loss"] == "prototypes"}
        assert scales == {1.0, 10.0, 50.0, 100.0}, path
        folds = {r.settings["fold"] for r in full}
        assert folds == ({None} if "speech-commands" in path.stem else {"1", "2", "3", "4", "5"}), path
        assert {r.settings["seed"] for r in full} == {0, 1}
    iemocap = load_sweep(REPO / "configs" / "paper" / "paper-iemocap-ast.yaml", "full")
    assert {(r.settings["clip_seconds"] * 16000, r.settings["factor_levels"]) for r in iemocap} == {(41200, 6)}
    assert "factor_prototypes" in {r.settings["loss"] for r in iemocap}
    commands = load_sweep(REPO / "configs" / "paper" / "paper-speech-commands-ast.yaml", "full")
    assert {r.settings["mixup"] for r in commands} == {0.5}


# Every dataset layout and both backbones run end to end, through papermill to a results table,
# with the loss that exercises most of each (the losses themselves are trained per loss in
# test_train.py); every run of every quick profile is planned and preflighted (dry run).
END_TO_END = {
    "paper-esc50-ast": {"loss": ["opl"]},
    "paper-speech-commands-ecapa": {"loss": ["prototypes"], "scale": [10.0], "bce": [True]},  # under mixup
    "paper-iemocap-ast": {"loss": ["factor_prototypes"]},
}


@pytest.mark.slow
def test_paper_quick_profiles_run_end_to_end_on_small_trees(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_esc50_tree(data).rename(data / "esc50")
    write_speech_commands_tree(data)
    write_iemocap_tree(data).rename(data / "iemocap")
    monkeypatch.setenv("PP_DATA_DIR", str(data))
    assert {load_sweep(p, "quick")[0].settings["backbone"] for p in PAPER if p.stem in END_TO_END} == {"ast", "ecapa"}
    results = tmp_path / "results"
    for path in PAPER:
        assert run_sweep(path, "quick", runs_dir=tmp_path / "runs", results_dir=results, dry_run=True) == 0, path
    for name, grid in END_TO_END.items():
        spec = yaml.safe_load((REPO / "configs" / "paper" / f"{name}.yaml").read_text())
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**spec, "grid": [grid]}))  # the paper's settings, one of its runs
        assert run_sweep(path, "quick", workers=1, runs_dir=tmp_path / "runs", results_dir=results) == 0, path
        table = pd.read_csv(results / name / "quick.csv")
        assert len(table) == 1 and table["accuracy"].between(0, 1).all(), path
        assert table.iloc[0][list(grid)].tolist() == [values[0] for values in grid.values()], path
