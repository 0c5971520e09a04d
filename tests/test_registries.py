"""The torch-free configuration names exactly what the registries hold, so a loss, dataset,
prototype construction or backbone added to one cannot be missing from the other."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from predefined_prototypes.data import DATASETS, DatasetModule
from predefined_prototypes.method import registry
from predefined_prototypes.method.prototypes import prototype_builder
from predefined_prototypes.method.registry import LOSSES, PROTOTYPE_KINDS, resolve
from predefined_prototypes.reading.tables import METHOD_NAMES
from predefined_prototypes.run import config, models
from predefined_prototypes.run.backbones import CNNOptions
from predefined_prototypes.run.config import RunConfig


@pytest.mark.slow
def test_every_registered_loss_and_backbone_makes_a_configuration_and_every_entry_resolves():
    for loss in LOSSES:
        made = RunConfig(loss=loss, dataset="emodb", embed_dim=32)
        assert isinstance(made.loss_options, LOSSES[loss].options) and RunConfig.from_dict(made.to_dict()) == made
    for backbone, entry in config.BACKBONES.items():
        mel = {"num_mel_bins": 40}
        made = RunConfig(backbone=backbone, loss="ce", **mel)
        assert isinstance(made.backbone_options, entry.options) and RunConfig.from_dict(made.to_dict()) == made
        assert callable(resolve(entry.builder, models.__package__))
    assert all(callable(prototype_builder(name)) for name in PROTOTYPE_KINDS)
    import torch

    # every backbone builds and maps features to the embedding size (GE2E with random weights, and
    # AST tiny: their shipped or hub weights are tested where they load)
    assert models.build_backbone("cnn", 40, 101, 16, CNNOptions(channels=4))(torch.randn(2, 101, 40)).shape == (2, 16)
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


def test_option_names_are_unique_across_the_parts_of_a_run():
    """Sweep files, command lines and tables name options flat, so no two parts may share one
    (two losses may: ``lam`` is every prototype loss's pull)."""
    from predefined_prototypes.run.backbones import OWN_NAMES
    from predefined_prototypes.run.recipe import Recipe

    parts = {
        "run": {f.name for f in dataclasses.fields(RunConfig)} - set(config.PARTS),
        "recipe": {f.name for f in dataclasses.fields(Recipe)},
        "losses": set(registry.loss_options()),
        "backbones": set(OWN_NAMES) | {"backbone_options"},
        "datasets": {option for module in DATASETS.values() for option in module.OPTIONS},
    }
    for a, names in parts.items():
        for b, others in parts.items():
            assert a == b or not names & others, f"{a} and {b} share {names & others}"
    assert len(dataclasses.fields(RunConfig)) <= 25


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


def test_the_store_and_the_reading_side_load_neither_torch_nor_the_runner():
    """Importing every module of the store and the reading side's loaders and verdicts leaves torch,
    papermill and Dask unloaded: the store reads files, and the runner sits above both."""
    from predefined_prototypes import storage

    modules = [f"predefined_prototypes.storage.{p.stem}" for p in Path(storage.__file__).parent.glob("*.py")]
    modules += ["predefined_prototypes.reading.runs", "predefined_prototypes.reading.claims"]
    probe = "\n".join(
        [
            *(f"import {m}" for m in modules),
            "import sys",
            "print(sorted({'torch', 'papermill', 'dask'} & set(sys.modules)))",
        ]
    )
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
