"""The torch-free configuration names exactly what the registries hold, so a loss, dataset,
prototype construction or backbone added to one cannot be missing from the other."""

import dataclasses
import subprocess
import sys

import pytest

from predefined_prototypes.data import DATASETS, DatasetModule
from predefined_prototypes.method.prototypes import prototype_builder
from predefined_prototypes.method.registry import LOSSES, PROTOTYPE_KINDS, resolve
from predefined_prototypes.reading.tables import METHOD_NAMES
from predefined_prototypes.run import config, models


def test_config_choices_are_the_registries_and_every_entry_resolves():
    assert config.PROTOTYPES == tuple(PROTOTYPE_KINDS)
    assert all(callable(prototype_builder(name)) for name in PROTOTYPE_KINDS)
    assert all(callable(resolve(spec, models.__package__)) for spec in config.BACKBONES.values())
    import torch

    # every backbone builds and maps features to the embedding size (GE2E with random weights, and
    # AST tiny: their shipped or hub weights are tested where they load)
    assert models.build_backbone("cnn", 40, 101, 16, channels=4)(torch.randn(2, 101, 40)).shape == (2, 16)
    assert models.GE2E(16, weights=None)(torch.randn(2, 101, 40)).shape == (2, 16)


def test_every_loss_has_a_display_name_and_the_book_uses_it():
    from predefined_prototypes.method.losses import Objective

    assert all(LOSSES[name].display for name in LOSSES)
    assert all(issubclass(LOSSES[name].objective_class(), Objective) for name in LOSSES)
    for name in ("ce", "focal", "opl", "learned_prototypes"):
        assert METHOD_NAMES[name].startswith(LOSSES[name].display)


def test_every_dataset_module_keeps_the_contract():
    for name, module in DATASETS.items():
        assert isinstance(module, DatasetModule), name
        assert set(module.SPLITS) >= {"train", "test"} and module.CLIP_SECONDS > 0, name


def test_every_name_a_book_page_imports_from_the_package_exists():
    """A page importing a name that moved or was removed fails the book build minutes later;
    this finds it in a second."""
    import importlib
    import re

    from conftest import REPO

    for page in sorted((REPO / "book").glob("*.md")):
        for module, names in re.findall(r"from (predefined_prototypes[\w.]*) import ([^\n(]+)", page.read_text()):
            imported = importlib.import_module(module)
            for name in (n.split(" as ")[0].strip() for n in names.split(",") if n.strip()):
                if not hasattr(imported, name):  # a submodule (from predefined_prototypes import plots)
                    importlib.import_module(f"{module}.{name}")


class ToyObjective:  # replaced by a real Objective subclass inside the test (torch imported there)
    pass


@pytest.mark.slow
def test_a_new_loss_is_one_class_and_one_entry_each(fsdd_small, monkeypatch):
    """Register a loss the package does not know: it is configured, trained, tabulated, labelled
    and plotted with no other list edited."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd
    import torch.nn.functional as F

    from predefined_prototypes.method import registry as methods
    from predefined_prototypes.method.losses import Objective
    from predefined_prototypes.reading.figures import mean_curves
    from predefined_prototypes.reading.tables import summary_table
    from predefined_prototypes.run.config import RunConfig
    from predefined_prototypes.run.train import train

    class Halved(Objective):
        def forward(self, logits, z, target, labels, factors):
            ce = F.cross_entropy(logits, target)
            return ce / 2, {"ce": ce}

    monkeypatch.setattr(sys.modules[__name__], "ToyObjective", Halved)
    monkeypatch.setitem(methods.LOSSES, "halved", methods.Loss(f"{__name__}:ToyObjective", "halved CE"))
    monkeypatch.setitem(methods.METHODS, "halved", methods.Method("halved CE", {"loss": "halved"}, "#123456"))
    config = RunConfig(
        loss="halved",
        dataset="fsdd",
        fold="official",
        data_dir=str(fsdd_small),
        epochs=1,
        batch_size=32,
        embed_dim=16,
        channels=4,
        num_mel_bins=32,
        fail_at_chance=False,
    )
    assert (
        config.run_id() != RunConfig(loss="ce", **{k: v for k, v in config.to_dict().items() if k != "loss"}).run_id()
    )
    result = train(config, progress=False)
    assert result["history"][0]["train_loss"] == pytest.approx(result["history"][0]["train_ce"] / 2)
    row = {"method": methods.method_of(config.to_dict()), "fold": "official", "seed": 0, **result["metrics"]}
    table = summary_table(pd.DataFrame([row]))
    assert list(table["method"]) == ["halved CE"]
    curves = pd.DataFrame(
        [{"run_id": "r", "method": row["method"], "fold": "official", "seed": 0, "epoch": 1, "train_accuracy": 0.5}]
    )
    ax = mean_curves(curves, "train_accuracy", {k: m.label for k, m in methods.METHODS.items()})
    assert "halved CE" in [line.get_label() for line in ax.get_lines()]


def test_dataset_options_are_declared_by_their_module_and_enter_ids_by_name():
    fields = {f.name for f in dataclasses.fields(config.RunConfig)}
    for name, module in DATASETS.items():
        assert not set(module.OPTIONS) & fields, f"{name}: an option named like a RunConfig field"
        for option, valid in module.OPTIONS.items():
            default, other = valid[0], valid[1]
            assert config.RunConfig(dataset=name, dataset_options={option: default}).dataset_options == {}
            changed = config.RunConfig(dataset=name, dataset_options={option: other})
            assert changed.identity()[option] == other and changed.run_id() != config.RunConfig(dataset=name).run_id()


def test_checking_a_configuration_loads_no_torch():
    probe = "import sys; from predefined_prototypes.run.config import RunConfig; RunConfig(dataset='emodb'); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"


def test_every_dataset_and_prototype_construction_has_its_display_name():
    from predefined_prototypes.data import DATASETS
    from predefined_prototypes.method.registry import PROTOTYPE_KINDS
    from predefined_prototypes.reading.tables import DATASET_NAMES, PROTOTYPE_NAMES

    assert set(DATASET_NAMES) == set(DATASETS)
    assert set(PROTOTYPE_NAMES) == set(PROTOTYPE_KINDS)
