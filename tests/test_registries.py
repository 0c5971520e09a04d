"""The torch-free configuration names exactly what the registries hold, so a loss, dataset,
prototype construction, factor or backbone added to one cannot be missing from the other."""

from predefined_prototypes import config
from predefined_prototypes.data import DATASETS, DatasetModule
from predefined_prototypes.factors import FACTORS
from predefined_prototypes.methods import LOSSES
from predefined_prototypes.models import BACKBONES
from predefined_prototypes.prototypes import PROTOTYPE_BUILDERS
from predefined_prototypes.report import METHOD_NAMES


def test_config_choices_are_the_registries():
    assert config.DATASETS == tuple(DATASETS)
    assert config.PROTOTYPES == tuple(PROTOTYPE_BUILDERS)
    assert config.FACTOR_NAMES == FACTORS
    assert config.BACKBONES == tuple(BACKBONES)


def test_every_loss_has_a_display_name_and_the_book_uses_it():
    from predefined_prototypes.losses import Objective

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
