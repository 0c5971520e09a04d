"""The training engine: configs, backbones, every loss for two epochs, determinism, errors."""

import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from predefined_prototypes.experiments.run_folder import load_run
from predefined_prototypes.method.prototypes import FixedPrototypes, LearnedPrototypes, prototype_builder
from predefined_prototypes.run.augment import Mixer, spec_augment
from predefined_prototypes.run.backbones import BEATsOptions
from predefined_prototypes.run.config import LOSSES, ConfigError, RunConfig
from predefined_prototypes.run.evaluate import embed
from predefined_prototypes.run.features import FeatureSettings, Normalizer
from predefined_prototypes.run.metrics import accuracy
from predefined_prototypes.run.models import AST, CNN, ECAPA, Model, build_backbone
from predefined_prototypes.run.schema import undeclared
from predefined_prototypes.run.splits import prepare_splits
from predefined_prototypes.run.train import NotLearned, TrainingDiverged, run, train


def tiny(**overrides):
    """A smoke run of seconds: too short to learn, so at-chance endings are allowed."""
    base = dict(
        dataset="fsdd",
        fold="official",
        epochs=2,
        batch_size=32,
        embed_dim=16,
        channels=4,
        num_mel_bins=32,
        seed=0,
        fail_at_chance=False,
    )
    return RunConfig.from_dict(dict(**{**base, **overrides}))


# --- configuration --------------------------------------------------------------------------


def test_config_rejects_unknown_values_listing_valid_ones():
    with pytest.raises(ConfigError, match="valid values: ce, focal, opl, prototypes"):
        RunConfig(loss="nonsense")
    with pytest.raises(ConfigError, match="unknown config key.*lossy.*valid keys"):
        RunConfig.from_dict({"lossy": "ce"})
    with pytest.raises(ConfigError, match="epochs='two' is not a valid int"):
        RunConfig.from_args(["epochs=two"])
    with pytest.raises(ConfigError, match="factors"):
        RunConfig(factors=("pitch", "loudness"))
    with pytest.raises(ConfigError, match="dataset_options: fsdd has no option.*classes; its options: none"):
        RunConfig(dataset="fsdd", dataset_options={"classes": 4})
    with pytest.raises(ConfigError, match="emodb option classes=5 is not valid; valid: 7, 4"):
        RunConfig(dataset="emodb", dataset_options={"classes": 5})
    with pytest.raises(ConfigError, match="classes is now dataset_options"):
        RunConfig.from_dict({"dataset": "emodb", "classes": 4})
    with pytest.raises(ConfigError, match="factor_prototypes needs"):
        RunConfig(dataset="fsdd", loss="factor_prototypes")
    with pytest.raises(ConfigError, match="mixup"):
        RunConfig.from_dict(dict(mixup=1.5))


def test_config_round_trips_through_command_line_text():
    config = RunConfig.from_args(
        [
            "dataset=emodb",
            "fold=03",
            'dataset_options={"classes": 4}',
            "specaugment=true",
            "scale=10",
            "data_dir=none",
            "factors=pitch_median,loudness",
        ]
    )
    assert config.fold == "03" and config.dataset_options == {"classes": 4} and config.recipe.specaugment is True
    assert config.loss_options.scale == 10.0 and config.data_dir is None
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_cli_rejects_bad_loss_fast():
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "predefined_prototypes", "train", "loss=nonsense"], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    assert result.returncode != 0 and elapsed < 2.0
    assert "ce, focal, opl, prototypes, learned_prototypes, factor_prototypes" in result.stderr


# --- backbones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backbone",
    [
        CNN(40, 24, channels=4),
        ECAPA(40, embed_dim=24, channels=16),
        AST(
            40,
            num_frames=60,
            embed_dim=24,
            config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
        ),
    ],
)
@pytest.mark.slow
def test_backbone_shapes_and_negative_embeddings(backbone):
    model = Model(backbone, embed_dim=24, num_classes=5).eval()
    logits, z = model(torch.randn(3, 60, 40))
    assert logits.shape == (3, 5) and z.shape == (3, 24)
    assert (z < 0).any(), "z must be able to reach prototypes with negative coordinates"


STAND_IN_BEATS = {
    # The layout of microsoft/unilm's beats/ folder: BEATs.py importing a sibling module.
    "backbone.py": """
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.layer = nn.Linear(width, width)

    def forward(self, x, padding_mask=None):
        return self.layer(x), []
""",
    "BEATs.py": """
import torch
from torch import nn

from backbone import Encoder


class BEATsConfig:
    def __init__(self, cfg=None):
        self.encoder_embed_dim, self.input_bins = 24, 128
        self.__dict__.update(cfg or {})


class BEATs(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.patch_embedding = nn.Linear(cfg.input_bins, cfg.encoder_embed_dim)
        self.encoder = Encoder(cfg.encoder_embed_dim)

    def preprocess(self, source, fbank_mean=15.41663, fbank_std=6.55582):
        raise RuntimeError("the stand-in expects features, as the wrapper passes them")

    def extract_features(self, source, padding_mask=None):
        fbank = self.preprocess(source)
        x, _ = self.encoder(self.patch_embedding(fbank), padding_mask=padding_mask)
        return x, padding_mask
""",
}


def stand_in_beats(folder, bins=32):
    """A folder shaped like the official BEATs code, and a checkpoint in its layout."""
    import importlib
    import sys

    folder.mkdir()
    for name, text in STAND_IN_BEATS.items():
        (folder / name).write_text(text)
    sys.path.insert(0, str(folder))
    try:
        official = importlib.import_module("BEATs")
        model = official.BEATs(official.BEATsConfig({"input_bins": bins}))
    finally:
        sys.path.remove(str(folder))
        for name in ("BEATs", "backbone"):
            sys.modules.pop(name, None)
    checkpoint = folder / "BEATs_stand_in.pt"
    torch.save({"cfg": {"input_bins": bins}, "model": model.state_dict()}, checkpoint)
    return model, checkpoint


def test_beats_wraps_the_readers_clone_and_checkpoint(tmp_path):
    original, checkpoint = stand_in_beats(tmp_path / "beats")
    wrapped = build_backbone(
        "beats", 32, 50, 16, BEATsOptions(pretrained=str(checkpoint), code=str(tmp_path / "beats"))
    )
    for (name, a), b in zip(original.state_dict().items(), wrapped.model.state_dict().values()):
        assert torch.equal(a, b), name
    x = torch.randn(2, 50, 32)
    frames, _ = original.encoder(original.patch_embedding(x))
    assert torch.allclose(wrapped(x), wrapped.project(frames.mean(dim=1)))  # mean over time, then k
    assert wrapped(x).shape == (2, 16)


def test_beats_without_code_or_checkpoint_says_what_to_fetch(tmp_path):
    from predefined_prototypes.run.preflight import check

    with pytest.raises(ConfigError, match=r"no BEATs.py in None\): clone https://github.com/microsoft/unilm"):
        check(RunConfig.from_dict(dict(backbone="beats", pretrained="x.pt")))
    (tmp_path / "beats").mkdir()
    (tmp_path / "beats" / "BEATs.py").write_text("")
    with pytest.raises(ConfigError, match=r"needs a BEATs checkpoint \(no file at 'missing.pt'\)"):
        check(
            RunConfig.from_dict(
                dict(backbone="beats", pretrained="missing.pt", backbone_options={"code": str(tmp_path / "beats")})
            )
        )


def test_spec_augment_masks_some_bins_and_frames():
    x = torch.ones(4, 50, 40)
    y = spec_augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and (y == 0).any() and (y == 1).float().mean() > 0.5
    assert torch.equal(x, torch.ones(4, 50, 40))  # input untouched


# --- training -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("loss", [name for name in LOSSES if name != "factor_prototypes"])
def test_two_epoch_run_per_loss(loss, fsdd_small, tmp_path):
    config = tiny(loss=loss, data_dir=str(fsdd_small), out=str(tmp_path / loss))
    result = run(config, progress=False)
    saved = json.loads((tmp_path / loss / "metrics.json").read_text())
    assert saved["config"]["loss"] == loss and len(saved["history"]) == 2
    assert saved["git_commit"] and saved["package_version"] and saved["torch_version"]
    assert saved["metrics"]["accuracy"] == result["metrics"]["accuracy"]
    assert 0 <= saved["metrics"]["accuracy"] <= 1
    assert np.array(saved["metrics"]["confusion_matrix"]).sum() == 150
    npz = np.load(tmp_path / loss / "embeddings.npz")
    assert npz["z"].shape == (150, 16) and npz["labels"].shape == (150,)
    if "prototypes" in loss:
        assert npz["prototypes"].shape == (10, 16)
        assert "cosine_to_prototype" in saved["metrics"]["geometry"]
        assert set(saved["metrics"]["fit"]) == {"distance", "nearest_prototype_accuracy", "cosine_to_own_prototype"}
    # The trained model comes back ready to evaluate: the same test accuracy from its weights.
    trained = load_run(tmp_path / loss)
    assert trained.config == config and not trained.model.training
    splits, info = prepare_splits(trained.config)
    logits, _ = embed(trained.model, splits["test"], info["num_frames"], torch.device("cpu"))
    assert accuracy(logits, splits["test"].labels) == saved["metrics"]["accuracy"]
    size = (tmp_path / loss / "model.safetensors").stat().st_size
    assert size < 200_000, size  # kept beside metrics.json in the run's folder


@pytest.mark.slow
def test_crop_start_trains_on_the_crop_that_is_evaluated_and_measured(fsdd_small, monkeypatch):
    from predefined_prototypes.run.splits import Split

    random_crops, original = [], Split.batch

    def spy(self, index, num_frames, generator=None):
        random_crops.append(generator is not None)
        return original(self, index, num_frames, generator)

    monkeypatch.setattr(Split, "batch", spy)
    train(tiny(data_dir=str(fsdd_small), epochs=1, crop="start"), progress=False)
    assert random_crops and not any(random_crops)  # training batches and evaluation: the start
    random_crops.clear()
    train(tiny(data_dir=str(fsdd_small), epochs=1), progress=False)
    assert any(random_crops)
    assert tiny(crop="random").run_id() == tiny().run_id() != tiny(crop="start").run_id()
    with pytest.raises(ConfigError, match="crop=start .* mixup"):
        tiny(crop="start", mixup=0.5)


@pytest.mark.slow
def test_learns_above_chance_and_is_deterministic(fsdd_small):
    config = tiny(loss="prototypes", data_dir=str(fsdd_small), epochs=6, batch_size=16, channels=8)
    a = train(config, progress=False)
    b = train(config, progress=False)
    assert a["metrics"]["accuracy"] > 0.4  # 10 classes: chance is 0.1
    assert a["metrics"] == b["metrics"]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]


@pytest.mark.slow
def test_eval_every_logs_fewer_test_points_and_changes_nothing_else(fsdd_small):
    every = train(tiny(loss="prototypes", data_dir=str(fsdd_small), epochs=5), progress=False)
    sparse = train(tiny(loss="prototypes", data_dir=str(fsdd_small), epochs=5, eval_every=2), progress=False)
    assert [h["epoch"] for h in sparse["history"] if "test_accuracy" in h] == [2, 4, 5]
    assert sparse["metrics"] == every["metrics"]
    for a, b in zip(every["history"], sparse["history"]):
        assert a["train_loss"] == b["train_loss"] and a["train_accuracy_running"] == b["train_accuracy_running"]
    assert RunConfig.from_dict(dict(eval_every=2)).identity() == RunConfig().identity()  # same run, same id


@pytest.mark.slow
def test_learned_prototypes_move_and_fixed_do_not(fsdd_small):
    fixed = train(tiny(loss="prototypes", data_dir=str(fsdd_small)), progress=False)
    learned = train(tiny(loss="learned_prototypes", data_dir=str(fsdd_small)), progress=False)
    # The matrix both start from: the same builder, size, scale and seed.
    start = prototype_builder("orthogonal")(10, 16, 1.0, 0).numpy()
    assert np.array_equal(fixed["embeddings"]["prototypes"], start)
    assert not np.allclose(learned["embeddings"]["prototypes"], start, atol=1e-3)
    # Fixed prototypes are a buffer the optimizer never sees; learned ones are its parameters.
    assert not list(FixedPrototypes(torch.from_numpy(start)).parameters())
    assert [p.shape for p in LearnedPrototypes(10, 16, 1.0, 0).parameters()] == [torch.Size([10, 16])]


@pytest.mark.slow
def test_mixup_mixes_waveforms_and_their_labels_alike(fsdd_small):
    config = tiny(data_dir=str(fsdd_small))
    splits, info = prepare_splits(config)
    train_split = splits["train"]
    frames, classes = info["num_frames"], len(info["classes"])
    index = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(0))[:16]  # mixed digits
    labels, features = train_split.labels[index], train_split.batch(index, frames)
    settings, normalize = FeatureSettings(config.num_mel_bins), Normalizer(**info["normalizer"])
    never = Mixer(train_split, 0.0, frames, settings, normalize, classes, torch.Generator().manual_seed(0))
    x, target = never(index, labels, features)
    assert x is features and torch.equal(target, torch.nn.functional.one_hot(labels, classes).float())
    always = Mixer(train_split, 1.0, frames, settings, normalize, classes, torch.Generator().manual_seed(0))
    x, target = always(index, labels, features)
    assert x.shape == features.shape and not torch.allclose(x, features)
    assert torch.allclose(target.sum(dim=1), torch.ones(16))
    # Beta(10, 10) weights sit near 0.5: a clip mixed with another digit carries both labels.
    mixed = target.max(dim=1).values < 1
    assert mixed.any() and (target[mixed].max(dim=1).values < 0.9).all()


@pytest.mark.slow
def test_augmentation_changes_training_and_keeps_it_finite(fsdd_small):
    plain = train(tiny(data_dir=str(fsdd_small), epochs=1), progress=False)
    augmented = train(tiny(data_dir=str(fsdd_small), mixup=1.0, specaugment=True, epochs=1), progress=False)
    assert np.isfinite(augmented["history"][0]["train_loss"])
    assert augmented["history"][0]["train_loss"] != plain["history"][0]["train_loss"]


def _emodb_factor_config(root, **overrides) -> RunConfig:
    values = dict(
        dataset="emodb",
        data_dir=str(root),
        fold="03",
        dataset_options={"classes": 4},
        loss="factor_prototypes",
        factors=("pitch_median", "pitch_std", "loudness"),
        factor_levels=2,
        embed_dim=8,
        channels=4,
        num_mel_bins=32,
        epochs=2,
        batch_size=8,
        clip_seconds=1.0,
        fail_at_chance=False,
    )
    return RunConfig.from_dict(dict(**{**values, **overrides}))


@pytest.mark.slow
def test_factor_prototypes_report_probes_and_edits(tiny_emodb):
    result = train(_emodb_factor_config(tiny_emodb), progress=False)
    report = result["metrics"]["factors"]
    names = {"pitch_median", "pitch_std", "loudness"}
    assert set(report["probes"]) == names
    expected = {"whole", "emotion", "residual", "residual_emotion"} | {f"block_{n}" for n in names}
    assert all(set(report["probes"][n]) == expected for n in names)
    assert report["probe_chance"]["loudness"] == 0.5
    assert set(report["interventions"]) == {"louder", "quieter", "pitch_up", "pitch_down"}
    louder = report["interventions"]["louder"]
    assert louder["measured_change"]["loudness"] == pytest.approx(6.0, abs=0.01)
    assert set(louder["code_shift"]) == names and 0 <= louder["emotion_flip_rate"] <= 1
    emb = result["embeddings"]
    assert emb["factor_levels"].shape == (12, 3) and emb["z"].shape == (12, 8)
    assert emb["train_z"].shape == (12, 8) and emb["edit_pitch_up_z"].shape == (12, 8)
    assert result["data"]["factor_cut_points"]["pitch_median"]


@pytest.mark.slow
def test_ce_reference_is_probed_on_the_same_utterances(tiny_emodb):
    result = train(_emodb_factor_config(tiny_emodb, loss="ce", probe_factors=True), progress=False)
    report = result["metrics"]["factors"]
    assert set(report["probes"]["loudness"]) == {"whole", "emotion"}
    assert "code_shift" not in report["interventions"]["louder"]
    assert result["embeddings"]["train_factor_levels"].shape == (12, 3)
    with pytest.raises(ConfigError, match="probe_factors needs speech"):
        RunConfig(dataset="fsdd", loss="ce", probe_factors=True)


@pytest.mark.slow
def test_a_labelled_factor_takes_its_levels_from_the_labels(tiny_ravdess):
    config = tiny(
        dataset="ravdess",
        data_dir=str(tiny_ravdess),
        fold="1",
        loss="factor_prototypes",
        factors="loudness,intensity",
        factor_levels=3,
        embed_dim=8,
        epochs=1,
        batch_size=8,
        clip_seconds=1.0,
    )
    result = train(config, progress=False)
    report, emb = result["metrics"]["factors"], result["embeddings"]
    assert undeclared(result["metrics"]) == []  # every metric has a declared column
    assert {"block_intensity", "emotion", "whole"} <= set(report["probes"]["intensity"])
    assert result["data"]["factor_cut_points"]["intensity"] == [0.5]  # the label is the level
    # blocks of 3 levels (loudness) and 2 (intensity), then the residual
    assert emb["train_factor_levels"][:, 0].max() == 2 and set(emb["train_factor_levels"][:, 1]) == {0, 1}
    dropped = result["data"]["dropped_invalid_factors"]
    assert dropped and all("-03-02-" in name and name.endswith("-04.wav") for name in dropped)
    # an edit of the audio leaves the label, so its level, where it was
    assert all(report["interventions"][e]["measured_shift"]["intensity"] == 0 for e in report["interventions"])
    unfiltered = train(replace(config, factor_filter=False), progress=False)
    assert unfiltered["data"]["dropped_invalid_factors"] == []
    assert unfiltered["data"]["train_size"] + unfiltered["data"]["test_size"] == 32
    assert replace(config, factor_filter=False).run_id() != config.run_id()


def test_labelled_factors_are_the_datasets_own():
    assert RunConfig(dataset="ravdess", factors="intensity").factor_level_counts() == [2]
    with pytest.raises(ConfigError, match="not valid for dataset=emodb; choose some of: pitch_median"):
        RunConfig(dataset="emodb", factors="pitch_median,intensity")
    with pytest.raises(ConfigError, match="each once"):
        RunConfig(dataset="ravdess", factors="intensity,intensity")


@pytest.mark.slow
def test_nan_loss_stops_with_step_and_term(fsdd_small):
    config = tiny(loss="prototypes", data_dir=str(fsdd_small), lr=1e12, scale=1e30, epochs=1)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+ .*distance"):
        train(config, progress=False)


@pytest.mark.slow
def test_exploding_loss_stops_the_run_naming_the_term(fsdd_small, tmp_path):
    # lr=1e6 keeps every value finite (loss ~1e22) but is no result.
    config = tiny(loss="prototypes", data_dir=str(fsdd_small), lr=1e6, epochs=2, out=str(tmp_path / "run"))
    with pytest.raises(TrainingDiverged, match=r"loss grew from .* by epoch \d, step \d+ \((ce|distance): .*lower lr"):
        run(config, progress=False)
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.slow
def test_a_run_that_ends_at_chance_is_not_a_result(fsdd_small, tmp_path):
    config = tiny(
        loss="ce", data_dir=str(fsdd_small), lr=1e-7, epochs=1, out=str(tmp_path / "run"), fail_at_chance=True
    )
    with pytest.raises(
        NotLearned, match=r"training accuracy ended at 0\.\d+, no better than .*most frequent class \(0\.100\)"
    ):
        run(config, progress=False)
    assert not (tmp_path / "run" / "metrics.json").exists()
    kept = run(RunConfig.from_dict(dict(**{**config.to_dict(), "fail_at_chance": False})), progress=False)
    assert kept["metrics"]["train_accuracy"] <= 0.1 and (tmp_path / "run" / "metrics.json").is_file()


@pytest.mark.slow
def test_failed_run_leaves_no_metrics(fsdd_small, tmp_path):
    config = tiny(loss="prototypes", data_dir=str(fsdd_small), lr=1e12, scale=1e30, epochs=1, out=str(tmp_path / "run"))
    with pytest.raises(TrainingDiverged):
        run(config, progress=False)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_unknown_fold_lists_valid_ones(fsdd_small):
    with pytest.raises(ValueError, match="valid: \\['george', 'jackson', 'theo', 'official'\\]"):
        train(tiny(fold="alice", data_dir=str(fsdd_small)), progress=False)


@pytest.mark.slow
def test_cli_train_writes_metrics(fsdd_small, tmp_path):
    out = tmp_path / "cli-run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "predefined_prototypes",
            "train",
            "dataset=fsdd",
            f"data_dir={fsdd_small}",
            "fold=official",
            "loss=prototypes",
            "epochs=1",
            "channels=4",
            "embed_dim=16",
            f"out={out}",
            "fail_at_chance=false",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout
    assert json.loads((out / "metrics.json").read_text())["config"]["fold"] == "official"


@pytest.mark.slow
def test_bad_audio_on_error_skip_from_the_command_line(fsdd_small, tmp_path):
    broken = tmp_path / "fsdd"
    shutil.copytree(fsdd_small, broken)
    (broken / "recordings" / "3_george_7.wav").write_bytes(b"")  # empty: unreadable
    common = [
        "train",
        f"data_dir={broken}",
        "fold=official",
        "epochs=1",
        "channels=4",
        "embed_dim=16",
        "num_mel_bins=32",
        "fail_at_chance=false",
    ]
    stopped = subprocess.run([sys.executable, "-m", "predefined_prototypes", *common], capture_output=True, text=True)
    assert stopped.returncode == 1 and "3_george_7.wav" in stopped.stderr
    assert "on_error=skip in the run's settings" in stopped.stderr and "Traceback" not in stopped.stderr
    out = tmp_path / "run"
    kept = subprocess.run(
        [sys.executable, "-m", "predefined_prototypes", *common, "on_error=skip", f"out={out}"],
        capture_output=True,
        text=True,
    )
    assert kept.returncode == 0, kept.stderr
    record = json.loads((out / "metrics.json").read_text())
    assert len(record["data"]["skipped_files"]) == 1 and "3_george_7.wav" in record["data"]["skipped_files"][0]
    assert record["data"]["train_size"] == 299


@pytest.mark.slow
def test_held_out_classes_are_never_trained_and_are_evaluated_few_shot(fsdd_small):
    config = tiny(loss="prototypes", data_dir=str(fsdd_small), novel_classes=("3", "7"), epochs=1)
    result = train(config, progress=False)
    assert result["data"]["classes"] == ["0", "1", "2", "4", "5", "6", "8", "9"]
    assert result["data"]["novel_classes"] == ["3", "7"]
    assert result["embeddings"]["logits"].shape[1] == 8 and result["embeddings"]["prototypes"].shape == (8, 16)
    novel = result["metrics"]["novel"]
    assert set(novel) == {"few_shot_1", "few_shot_5", "few_shot_20", "nc1", "prototype_span_energy"}
    assert novel["few_shot_1"]["chance"] == 0.5 and 0 <= novel["few_shot_20"]["mean"] <= 1
    assert set(result["embeddings"]["novel_query_labels"].tolist()) == {0, 1}
    with pytest.raises(ValueError, match=r"novel_classes \['eleven'\] are not classes of fsdd"):
        train(tiny(data_dir=str(fsdd_small), novel_classes=("eleven", "3")), progress=False)
    assert RunConfig(novel_classes=()).identity() == RunConfig().identity()  # stored runs keep their ids


TINY_AST = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.mark.slow
def test_ast_loads_weights_from_a_save_pretrained_folder(tmp_path):
    saved = AST(num_mel_bins=32, num_frames=50, embed_dim=32, config=TINY_AST)
    saved.transformer.save_pretrained(tmp_path / "ast")
    loaded = AST(num_mel_bins=32, num_frames=50, embed_dim=32, pretrained=str(tmp_path / "ast"))
    for (name, a), b in zip(saved.transformer.state_dict().items(), loaded.transformer.state_dict().values()):
        assert torch.equal(a, b), name
    x = torch.randn(2, 50, 32)
    saved.eval(), loaded.eval()
    assert torch.equal(saved(x), loaded(x))


@pytest.mark.slow
def test_ast_weights_out_of_reach_fail_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match=r"cannot load AST weights 'nobody/no-such-ast'.*huggingface-cli download") as err:
        AST(num_mel_bins=32, num_frames=50, embed_dim=32, pretrained="nobody/no-such-ast")
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_step_schedule_and_betas_reach_the_optimizer(fsdd_small):
    result = train(
        tiny(data_dir=str(fsdd_small), epochs=3, warmup=1, schedule="step", lr_decay=0.5, betas=(0.95, 0.999)),
        progress=False,
    )
    lrs = [h["lr"] for h in result["history"]]
    assert lrs[1] == pytest.approx(lrs[0] * 0.5) and lrs[2] == pytest.approx(lrs[0] * 0.25)
    assert RunConfig.from_args(["betas=0.95,0.999"]).recipe.betas == (0.95, 0.999)
    with pytest.raises(ConfigError, match="betas must be two numbers"):
        RunConfig.from_dict(dict(betas=(0.9,)))
    # Defaults keep the ids of every stored run.
    assert (
        RunConfig.from_dict(dict(betas=(0.9, 0.999), schedule="cosine", lr_decay=0.85)).identity()
        == RunConfig().identity()
    )


@pytest.mark.slow
def test_bf16_autocast_trains_and_leaves_float32_runs_as_they_were(fsdd_small):
    plain = train(tiny(data_dir=str(fsdd_small), epochs=1), progress=False)
    mixed = train(tiny(data_dir=str(fsdd_small), epochs=1, bf16=True), progress=False)
    assert np.isfinite(mixed["history"][0]["train_loss"]) and mixed["embeddings"]["z"].dtype == np.float32
    assert mixed["history"][0]["train_loss"] != plain["history"][0]["train_loss"]  # autocast did run
    assert RunConfig.from_dict(dict(bf16=False)).identity() == RunConfig().identity()


@pytest.mark.slow
def test_channels_last_weights_compute_the_same_first_step_and_keep_stored_ids(fsdd_small):
    losses = {}
    for fast in (False, True):
        train(
            tiny(data_dir=str(fsdd_small), epochs=1, channels_last=fast),
            progress=False,
            on_step=lambda step, values, fast=fast: losses.setdefault(fast, values["loss"]),
        )
    # The same arithmetic in another memory layout: the first step's loss agrees to float noise.
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)
    assert RunConfig.from_dict(dict(channels_last=False)).identity() == RunConfig().identity()
    assert RunConfig.from_dict(dict(channels_last=True)).run_id() != RunConfig().run_id()


@pytest.mark.slow
def test_a_validation_speaker_is_held_out_and_scores_the_run(fsdd_small):
    config = tiny(data_dir=str(fsdd_small), fold="theo", validation="next_speaker", epochs=1)
    splits, info = prepare_splits(config)
    assert info["validation_speaker"] == "george"  # after theo comes "official" (no speaker), then george
    assert {c.speaker for c in splits["train"].dataset.clips} == {"jackson"}
    assert {c.speaker for c in splits["validation"].dataset.clips} == {"george"}
    record = train(config, progress=False)
    metrics = record["metrics"]
    assert set(metrics["validation"]) == {"accuracy", "ece", "temperature", "test_ece_scaled"}
    assert set(record["data"]["listing_sha256"]) == {"train", "test", "validation"}  # the data it read
    assert metrics["validation"]["temperature"] > 0 and 0 <= metrics["validation"]["accuracy"] <= 1
    with pytest.raises(ConfigError, match="use one"):
        tiny(validation="next_speaker", novel_classes=("0", "1"))


def test_label_smoothing_is_the_cross_entropy_terms_and_only_where_there_is_one():
    import torch.nn.functional as F

    from predefined_prototypes.method.losses import CrossEntropyObjective, PrototypeObjective

    logits, y = torch.randn(8, 4), torch.randint(0, 4, (8,))
    ce = tiny(loss="ce", label_smoothing=0.1)
    loss, _ = CrossEntropyObjective.build(ce.loss_options, 4, 16, smoothing=0.1)(logits, None, y, y, None)
    target = torch.full((8, 4), 0.1 / 4).scatter(1, y[:, None], 0.9 + 0.1 / 4)
    assert torch.allclose(loss, -(target * F.log_softmax(logits, 1)).sum(1).mean())
    # the prototype loss smooths its cross-entropy term alike, so a recipe with it applies to both
    pull = PrototypeObjective.build(tiny(loss="prototypes").loss_options, 4, tiny().embed_dim, smoothing=0.1)
    _, terms = pull(logits, torch.randn(8, tiny().embed_dim), y, y, None)
    assert torch.allclose(terms["ce"], loss)
    with pytest.raises(ConfigError, match="label_smoothing applies to loss=ce or prototypes or learned_prototypes"):
        tiny(loss="focal", label_smoothing=0.1)
    assert tiny(loss="ce", label_smoothing=0.1).run_id() != tiny(loss="ce").run_id()
