"""CONTRIBUTING's walk "add a loss", done: a loss is one class and one registry entry, and what it
can do comes from that entry, not its name."""

import dataclasses

import pytest
import torch
from test_cli_errors import TINY

from predefined_prototypes.method import registry as methods
from predefined_prototypes.method.losses import PrototypeObjective
from predefined_prototypes.method.registry import LOSSES, Loss, Method, method_of
from predefined_prototypes.run.config import ConfigError, RunConfig


class L1PrototypeObjective(PrototypeObjective):
    """A toy loss with prototypes: the prototype loss with the pull measured as L1 distance."""

    def forward(self, logits, z, target, labels, factors):
        loss, terms = super().forward(logits, z, target, labels, factors)
        pull = (z - self.prototypes(target)).abs().sum(dim=1).mean()
        return terms["ce"] + self.prototype_loss.lam * pull, {"ce": terms["ce"], "distance": pull}


TOY = Loss("test_walks:L1PrototypeObjective", "L1 prototypes", methods.PROTOTYPE_OPTIONS, class_prototypes=True)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(LOSSES, "l1_prototypes", TOY)
    monkeypatch.setitem(methods.METHODS, "l1_prototypes", Method("L1 prototypes", {"loss": "l1_prototypes"}, "#17becf"))


def test_a_loss_reading_a_field_that_does_not_exist_is_refused(monkeypatch):
    monkeypatch.setitem(LOSSES, "typo", dataclasses.replace(TOY, reads=("lamda",)))
    with pytest.raises(ConfigError, match="loss typo declares it reads lamda"):
        RunConfig(loss="typo")


@pytest.mark.slow
def test_a_toy_loss_with_prototypes_is_configured_trained_measured_and_plotted(toy_registered, fsdd_small):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from predefined_prototypes.reading.figures import fold_differences
    from predefined_prototypes.run.train import train

    config = RunConfig(**TINY, loss="l1_prototypes", lam=0.1, data_dir=str(fsdd_small), fail_at_chance=False)
    assert config.identity()["lam"] == 0.1  # its options enter its id
    with pytest.raises(ConfigError, match="label_smoothing applies to loss=ce"):
        RunConfig(loss="l1_prototypes", label_smoothing=0.1)
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
    assert ax is not None
