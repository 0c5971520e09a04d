"""CONTRIBUTING's walks, done: "add a loss" (one class and one registry entry, and what it can do
comes from that entry, not its name), "add a dataset" (one module and one entry) and "add a page
with a figure" (prose, a few calls, its glue beside it), each with nothing else edited."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from test_cli_errors import TINY

from predefined_prototypes.method.losses import Objective
from predefined_prototypes.method.prototypes import FixedPrototypes, prototype_builder
from predefined_prototypes.method.registry import LOSSES, Loss
from predefined_prototypes.reading import methods
from predefined_prototypes.reading.methods import Method, method_of
from predefined_prototypes.run.config import ConfigError, RunConfig


@dataclass(frozen=True)
class L1Options:
    """The toy loss's own options, checked here."""

    prototypes: str = "orthogonal"
    scale: float = 1.0
    l1_weight: float = 0.1  # its own option: the L1 pull's weight

    def __post_init__(self):
        if self.l1_weight < 0:
            raise ValueError(f"l1_weight must be >= 0, got {self.l1_weight}")


class L1PrototypeObjective(Objective):
    """A toy loss with prototypes: cross-entropy plus ``l1_weight`` times the L1 distance to them."""

    def __init__(self, prototypes, weight):
        super().__init__()
        self.fixed, self.weight = prototypes, weight

    @classmethod
    def build(cls, options, num_classes, embed_dim, seed=0, factor_levels=()):
        matrix = prototype_builder(options.prototypes)(num_classes, embed_dim, options.scale, seed)
        return cls(FixedPrototypes(matrix), options.l1_weight)

    @property
    def prototypes(self):
        return self.fixed

    def forward(self, logits, z, target, labels, factors):
        terms = {"ce": F.cross_entropy(logits, target), "distance": (z - self.fixed(target)).abs().sum(1).mean()}
        return terms["ce"] + self.weight * terms["distance"], terms


TOY = Loss("test_walks:L1PrototypeObjective", "L1 prototypes", L1Options, class_prototypes=True)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(LOSSES, "l1_prototypes", TOY)
    monkeypatch.setitem(methods.METHODS, "l1_prototypes", Method("L1 prototypes", {"loss": "l1_prototypes"}, "#17becf"))


def test_a_new_loss_brings_its_own_option_and_check_and_moves_no_other_run(toy_registered, monkeypatch):
    ce = RunConfig.from_dict({"loss": "ce", "epochs": 3})
    toy = RunConfig.from_dict({"loss": "l1_prototypes", "l1_weight": 0.5})
    assert toy.loss_options == L1Options(l1_weight=0.5) and toy.identity()["l1_weight"] == 0.5
    with pytest.raises(ConfigError, match="loss=l1_prototypes: l1_weight must be >= 0, got -1.0"):
        RunConfig.from_args(["loss=l1_prototypes", "l1_weight=-1"])
    with pytest.raises(ConfigError, match=r"l1_weight \(an option of loss=l1_prototypes\): l1_weight must be >= 0"):
        RunConfig.from_dict({"loss": "ce", "l1_weight": -1})
    assert RunConfig.from_dict({"loss": "ce", "epochs": 3, "l1_weight": 0.5}).run_id() == ce.run_id()
    with pytest.raises(ConfigError, match="label_smoothing applies to loss=ce"):
        RunConfig.from_dict({"loss": "l1_prototypes", "label_smoothing": 0.1})
    monkeypatch.delitem(LOSSES, "l1_prototypes")
    assert RunConfig.from_dict({"loss": "ce", "epochs": 3}).run_id() == ce.run_id()  # registering it moved no id


@pytest.mark.slow
def test_a_toy_loss_with_prototypes_is_configured_trained_measured_and_plotted(toy_registered, fsdd_small):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from predefined_prototypes.reading.figures import fold_differences
    from predefined_prototypes.run.train import train

    config = RunConfig.from_dict(
        dict(**TINY, loss="l1_prototypes", l1_weight=0.2, data_dir=str(fsdd_small), fail_at_chance=False)
    )
    record = train(config, progress=False)
    assert "cosine_to_prototype" in record["metrics"]["geometry"]  # its geometry, from its entry
    assert torch.isfinite(torch.tensor(record["history"][0]["train_distance"]))
    rows = pd.DataFrame(
        [
            {"fold": "official", "seed": 0, "accuracy": record["metrics"]["accuracy"], "loss": "l1_prototypes"},
            {"fold": "official", "seed": 0, "accuracy": 0.5, "loss": "ce"},
        ]
    )
    rows["method"] = [method_of(r) for r in rows.to_dict("records")]
    assert list(rows["method"]) == ["l1_prototypes", "ce"]
    ax = fold_differences(rows, "ce", {"l1_prototypes": "L1 prototypes", "ce": "cross-entropy"})
    labels = [t.get_text() for t in ax.get_yticklabels()] + [t.get_text() for t in ax.get_xticklabels()]
    assert any("L1 prototypes" in label for label in labels + [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()])


class ToneDataset:
    """A toy dataset module, as CONTRIBUTING's walk writes one: two classes (low and high tones)
    said by three speakers, ``tones/<class>_<speaker>_<n>.wav``; folds leave one speaker out."""

    MARKER = "tones"
    LAYOUT = "tones/<class>_<speaker>_<n>.wav"
    CLIP_SECONDS = 0.5
    SPLITS = ("train", "test")
    SPEECH_WITH_PITCH = False
    OPTIONS: dict = {}
    ARCHIVE = None
    OBTAIN = "made by the test"
    CLASSES = ["low", "high"]

    @staticmethod
    def _files(root):
        return sorted((root / "tones").glob("*.wav"))

    @staticmethod
    def folds(root, **options):
        return sorted({p.stem.split("_")[1] for p in ToneDataset._files(root)})

    @staticmethod
    def clips(root, fold, split, **options):
        from predefined_prototypes.data.clip import Clip

        rows = [(p, *p.stem.split("_")[:2]) for p in ToneDataset._files(root)]
        chosen = [Clip(p, ToneDataset.CLASSES.index(c), s) for p, c, s in rows if (s == fold) == (split == "test")]
        return chosen, ToneDataset.CLASSES


def write_tones(root):
    import numpy as np
    import soundfile as sf

    (root / "tones").mkdir(parents=True)
    t = np.arange(8000) / 16000
    rng = np.random.default_rng(0)
    for speaker, shift in (("ann", 0), ("bob", 15), ("cy", 30)):
        for n in range(8):
            for name, hz in (("low", 200), ("high", 900)):
                wave = 0.3 * np.sin(2 * np.pi * (hz + shift + 5 * n) * t) + 0.01 * rng.standard_normal(t.size)
                sf.write(root / "tones" / f"{name}_{speaker}_{n}.wav", wave.astype(np.float32), 16000)
    return root


@pytest.mark.slow
def test_a_toy_dataset_is_registered_listed_configured_and_trained(monkeypatch, tmp_path):
    from predefined_prototypes.data import DATASETS, DatasetModule, folds, get_dataset
    from predefined_prototypes.run.train import train

    monkeypatch.setenv("PP_CACHE_DIR", str(tmp_path / "cache"))
    assert isinstance(ToneDataset, DatasetModule)  # the protocol a dataset module satisfies
    monkeypatch.setitem(DATASETS, "tones", ToneDataset)  # the one entry
    root = write_tones(tmp_path / "tones-data")
    assert folds("tones", root) == ["ann", "bob", "cy"]
    assert len(get_dataset("tones", root, fold="ann", split="test")) == 16
    with pytest.raises(ConfigError, match="dataset='tune' is not valid"):
        RunConfig(dataset="tune")
    config = RunConfig.from_dict(dict(dataset="tones", fold="ann", data_dir=str(root), epochs=2, channels=4, embed_dim=8,
                       num_mel_bins=32, batch_size=8, fail_at_chance=False))  # fmt: skip
    record = train(config, progress=False)
    assert record["data"]["test_size"] == 16 and record["metrics"]["accuracy"] >= 0.5


@pytest.mark.slow
def test_a_new_page_with_a_figure_is_thin_linted_and_runs(tmp_path):
    """A page as CONTRIBUTING's walk writes one: prose, glue from its own module's function, and a
    figure drawn by ``reading.figures``; it passes the checks every book page passes and its code
    runs without torch."""
    import subprocess
    import sys

    from test_pages import code_lines, page_notebook

    page = tmp_path / "toy-page.md"
    page.write_text(
        """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  name: python3
---

# Verdicts at a glance

Every verdict's outcome: {glue:text}`fsdd_claim1a`.

```{code-cell} ipython3
:tags: [remove-cell]
import matplotlib

matplotlib.use("Agg")
from predefined_prototypes.reading import figures
from predefined_prototypes.reading.claims import book_verdicts, forest_rows
from predefined_prototypes.reading.pages import intro as page

verdicts = book_verdicts()
values = page.intro(verdicts)
figure = figures.forest_panels(forest_rows(verdicts))
```
"""
    )
    cells = [c.source for c in page_notebook(page).cells if c.cell_type == "code"]
    assert len(code_lines(page)) <= 10  # thin: a few calls
    assert "def " not in "\n".join(cells)  # defines nothing: its logic lives in the package
    probe = "\n".join([*cells, "import sys", "assert 'torch' not in sys.modules", "print(values['fsdd_claim1a'])"])
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().split(" ")[0].rstrip(",") in (
        "reproduced",
        "partly",
        "not",
        "contradicted",
        "undetermined",
        "pending",
    )
