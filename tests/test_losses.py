import math

import pytest
import torch
import torch.nn.functional as F

from predefined_prototypes import (
    FactorPrototypes,
    FixedPrototypes,
    FocalLoss,
    LearnedPrototypes,
    OrthogonalProjectionLoss,
    PrototypeLoss,
    orthogonal_prototypes,
)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    z = torch.randn(12, 16, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 5, (12,), generator=gen)
    return logits, z, y


def test_focal_gamma_zero_is_cross_entropy(batch):
    logits, _, y = batch
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, y), F.cross_entropy(logits, y))
    soft = torch.softmax(torch.randn(12, 5, dtype=torch.float64), 1)
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, soft), F.cross_entropy(logits, soft))


def test_focal_matches_definition_elementwise(batch):
    logits, _, y = batch
    p = torch.softmax(logits, 1)[torch.arange(12), y]
    expected = torch.tensor([-((1 - pt) ** 2) * math.log(pt) for pt in p.tolist()]).mean()
    assert torch.allclose(FocalLoss(gamma=2.0)(logits, y), expected.to(logits.dtype))


def test_focal_down_weights_easy_examples():
    easy = torch.tensor([[8.0, 0.0]])
    hard = torch.tensor([[0.2, 0.0]])
    y = torch.tensor([0])
    ratio_easy = FocalLoss(2.0)(easy, y) / F.cross_entropy(easy, y)
    ratio_hard = FocalLoss(2.0)(hard, y) / F.cross_entropy(hard, y)
    assert ratio_easy < 1e-5 < ratio_hard < 1


def test_focal_rejects_negative_gamma():
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1)


def _opl_brute_force(z, y, gamma):
    unit = [v / v.norm() for v in z]
    same, different = [], []
    for i in range(len(y)):
        for j in range(len(y)):
            if i == j:
                continue
            cos = float(unit[i] @ unit[j])
            (same if y[i] == y[j] else different).append(cos)
    s = sum(same) / len(same)
    d = sum(abs(c) for c in different) / len(different)
    return (1 - s) + gamma * d, s, d


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_opl_equals_double_loop(batch, gamma):
    _, z, y = batch
    out = OrthogonalProjectionLoss(gamma=gamma)(z, y)
    loss, s, d = _opl_brute_force(z, y.tolist(), gamma)
    assert out.loss.item() == pytest.approx(loss, abs=1e-10)
    assert out.same_class_cosine.item() == pytest.approx(s, abs=1e-10)
    assert out.different_class_cosine.item() == pytest.approx(d, abs=1e-10)
    total, same, diff = out  # unpacks like a tuple
    assert torch.equal(total, out.loss)


def test_opl_zero_for_orthogonal_classes_and_identical_members():
    protos = orthogonal_prototypes(3, 6)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    assert OrthogonalProjectionLoss()(protos[y], y).loss.abs().item() < 1e-6


def test_opl_without_same_class_pairs_is_finite():
    z, y = torch.randn(3, 4), torch.tensor([0, 1, 2])
    out = OrthogonalProjectionLoss()(z, y)
    assert torch.isfinite(out.loss) and out.same_class_cosine.item() == 0.0


def test_opl_rejects_soft_labels():
    with pytest.raises(ValueError, match="integer labels"):
        OrthogonalProjectionLoss()(torch.randn(4, 3), torch.rand(4, 2))


@pytest.mark.parametrize("lam", [0.0, 1.0, 2.5])
def test_prototype_loss_is_ce_plus_lam_mse(batch, lam):
    logits, z, y = batch
    protos = FixedPrototypes(orthogonal_prototypes(5, 16, scale=10.0)).double()
    loss = PrototypeLoss(protos, lam=lam)(logits, z, y)
    mse = ((z - protos.matrix[y]) ** 2).mean()
    assert torch.allclose(loss, F.cross_entropy(logits, y) + lam * mse)


def test_prototype_loss_soft_labels(batch):
    logits, z, y = batch
    protos = FixedPrototypes(orthogonal_prototypes(5, 16)).double()
    soft = torch.softmax(torch.randn(12, 5, dtype=torch.float64), 1)
    loss = PrototypeLoss(protos)(logits, z, soft)
    expected = F.cross_entropy(logits, soft) + ((z - soft @ protos.matrix) ** 2).mean()
    assert torch.allclose(loss, expected)
    # Hard labels and their one-hot probabilities give the same loss.
    one_hot = F.one_hot(y, 5).double()
    assert torch.allclose(PrototypeLoss(protos)(logits, z, y), PrototypeLoss(protos)(logits, z, one_hot))


def test_prototype_loss_gradient_pulls_z_to_its_prototype():
    protos = FixedPrototypes(orthogonal_prototypes(3, 8, scale=5.0))
    y = torch.tensor([0, 1, 2])
    z = torch.zeros(3, 8, requires_grad=True)
    logits = torch.zeros(3, 3)
    opt = torch.optim.SGD([z], lr=1.0)
    for _ in range(200):
        opt.zero_grad()
        PrototypeLoss(protos)(logits, z, y).backward()
        opt.step()
    assert torch.allclose(z.detach(), protos.matrix, atol=1e-3)


def test_prototype_loss_with_learned_prototypes_trains_the_matrix(batch):
    logits, z, y = batch
    protos = LearnedPrototypes(5, 16).double()
    PrototypeLoss(protos)(logits, z, y).backward()
    assert protos.matrix.grad is not None and protos.matrix.grad.abs().sum() > 0


def test_prototype_loss_with_factor_prototypes_targets_factor_code():
    protos = FactorPrototypes([2, 3], dim=8, scale=2.0)
    logits, z = torch.randn(4, 4), torch.randn(4, 8)
    y = torch.tensor([0, 1, 2, 3])
    factors = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0]])
    loss = PrototypeLoss(protos, lam=0.5)(logits, z, y, factors=factors)
    expected = F.cross_entropy(logits, y) + 0.5 * ((z - protos(factors)) ** 2).mean()
    assert torch.allclose(loss, expected)
    with pytest.raises(ValueError, match="factors"):
        PrototypeLoss(protos)(logits, z, y)


def test_prototype_loss_shape_mismatch_is_explained():
    protos = FixedPrototypes(orthogonal_prototypes(3, 8))
    with pytest.raises(ValueError, match="does not match"):
        PrototypeLoss(protos)(torch.randn(2, 3), torch.randn(2, 9), torch.tensor([0, 1]))


def test_prototype_loss_labels_out_of_range():
    protos = FixedPrototypes(orthogonal_prototypes(3, 8))
    with pytest.raises(ValueError, match="labels"):
        PrototypeLoss(protos)(torch.randn(2, 3), torch.randn(2, 8), torch.tensor([0, 3]))


def test_prototype_loss_rejects_negative_lambda():
    with pytest.raises(ValueError, match="lam"):
        PrototypeLoss(FixedPrototypes(orthogonal_prototypes(3, 8)), lam=-1)


def test_bce_replaces_the_cross_entropy_term_under_soft_targets():
    import torch.nn.functional as F

    from predefined_prototypes.method.losses import CrossEntropyObjective, PrototypeObjective
    from predefined_prototypes.method.options import CrossEntropyOptions, PrototypeOptions
    from predefined_prototypes.run.config import ConfigError, RunConfig

    logits, z = torch.randn(6, 4), torch.randn(6, 8)
    soft = torch.softmax(torch.randn(6, 4), dim=1)  # mixed labels
    loss, terms = CrossEntropyObjective.build(CrossEntropyOptions(bce=True), 4, 8)(
        logits, z, soft, soft.argmax(1), None
    )
    assert set(terms) == {"bce"} and torch.allclose(loss, F.binary_cross_entropy_with_logits(logits, soft))
    objective = PrototypeObjective.build(PrototypeOptions(bce=True), 4, 8)
    loss, terms = objective(logits, z, soft, soft.argmax(1), None)
    assert set(terms) == {"bce", "distance"} and torch.allclose(loss, terms["bce"] + terms["distance"])
    with pytest.raises(
        ConfigError,
        match="bce is an option of loss=ce, prototypes, learned_prototypes or factor_prototypes, not of loss=focal",
    ):
        RunConfig.from_dict(dict(loss="focal", bce=True))
    assert RunConfig.from_dict(dict(bce=False)).identity() == RunConfig().identity()
