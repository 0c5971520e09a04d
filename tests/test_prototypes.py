import itertools
import math

import pytest
import torch

from predefined_prototypes import (
    FactorPrototypes,
    FixedPrototypes,
    LearnedPrototypes,
    gaussian_prototypes,
    hyperspherical_prototypes,
    orthogonal_prototypes,
    simplex_etf_prototypes,
)
from predefined_prototypes.method.prototypes import jl_distortion_bound

BUILDERS = [orthogonal_prototypes, gaussian_prototypes, simplex_etf_prototypes, hyperspherical_prototypes]


@pytest.mark.parametrize("num_classes,dim", [(2, 2), (10, 10), (10, 128), (35, 192), (50, 768)])
@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_orthogonal_rows_are_orthonormal_times_scale(num_classes, dim, scale):
    m = orthogonal_prototypes(num_classes, dim, scale=scale, seed=3)
    assert m.shape == (num_classes, dim)
    gram = (m @ m.T).double() / scale**2
    assert torch.allclose(gram, torch.eye(num_classes, dtype=torch.float64), atol=1e-5)


def test_orthogonal_is_haar_not_axis_aligned():
    # The authors draw a random rotation; the first rows of the identity would also be
    # orthonormal but concentrate each prototype on one coordinate.
    m = orthogonal_prototypes(4, 64)
    assert m.abs().max() < 0.9


@pytest.mark.slow
@pytest.mark.parametrize("builder", BUILDERS)
def test_same_seed_same_matrix_other_seed_other_matrix(builder):
    a, b, c = builder(5, 12, seed=7), builder(5, 12, seed=7), builder(5, 12, seed=8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def _pairwise_sq_distances(x):
    return torch.cdist(x.double(), x.double()).pow(2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_jl_branch_distortion_within_bound(seed):
    num_classes, dim = 1500, 1024  # num_classes > dim: the JL branch
    with pytest.warns(UserWarning, match="exact orthogonality is impossible"):
        m = orthogonal_prototypes(num_classes, dim, seed=seed).double()
    bound = jl_distortion_bound(num_classes, dim, failure_probability=1e-3)
    assert 0 < bound < 0.5
    # Before projection the rows are orthonormal: squared norms 1, squared distances 2.
    norms = m.pow(2).sum(1)
    assert (norms - 1).abs().max() <= bound
    sq = _pairwise_sq_distances(m)
    off = ~torch.eye(num_classes, dtype=torch.bool)
    distortion = (sq[off] / 2 - 1).abs().max().item()
    assert distortion <= bound
    # Rows are not renormalised (the authors' choice): norms vary around 1.
    assert norms.std() > 1e-3


def test_jl_bound_shrinks_with_dim():
    bounds = [jl_distortion_bound(100, d) for d in (256, 1024, 4096)]
    assert bounds[0] > bounds[1] > bounds[2]
    assert math.isinf(jl_distortion_bound(1000, 4))


def test_gaussian_rows_unit_norm_times_scale():
    m = gaussian_prototypes(20, 8, scale=5.0)
    assert torch.allclose(m.norm(dim=1), torch.full((20,), 5.0), atol=1e-5)


@pytest.mark.parametrize("num_classes,dim", [(2, 1), (4, 3), (10, 9), (10, 64)])
def test_simplex_etf_equiangular(num_classes, dim):
    m = simplex_etf_prototypes(num_classes, dim, scale=2.0).double() / 2.0
    expected = torch.full((num_classes, num_classes), -1 / (num_classes - 1), dtype=torch.float64)
    expected.fill_diagonal_(1.0)
    assert torch.allclose(m @ m.T, expected, atol=1e-5)
    assert torch.allclose(m.sum(0), torch.zeros(dim, dtype=torch.float64), atol=1e-5)


def test_simplex_etf_needs_dim_at_least_classes_minus_one():
    with pytest.raises(ValueError, match="dim"):
        simplex_etf_prototypes(10, 8)


@pytest.mark.slow
def test_hyperspherical_spreads_better_than_random():
    c, d = 30, 8
    spread = hyperspherical_prototypes(c, d, seed=0)
    random = gaussian_prototypes(c, d, seed=0)
    off = ~torch.eye(c, dtype=torch.bool)

    def max_cos(m):
        u = m / m.norm(dim=1, keepdim=True)
        return (u @ u.T)[off].view(c, c - 1).max(1).values.mean()

    assert torch.allclose(spread.norm(dim=1), torch.ones(c), atol=1e-5)
    assert max_cos(spread) < max_cos(random) - 0.1


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize(
    "kwargs,argument",
    [
        ({"num_classes": 1, "dim": 8}, "num_classes"),
        ({"num_classes": 3, "dim": 0}, "dim"),
        ({"num_classes": 3, "dim": 8, "scale": 0.0}, "scale"),
        ({"num_classes": 3, "dim": 8, "scale": -1.0}, "scale"),
    ],
)
def test_invalid_arguments_name_the_argument(builder, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        builder(**kwargs)


def test_fixed_prototypes_are_a_buffer_untouched_by_training():
    protos = FixedPrototypes(orthogonal_prototypes(3, 6))
    before = protos.matrix.clone()
    assert list(protos.parameters()) == []
    assert "matrix" in protos.state_dict()
    z = torch.randn(4, 6, requires_grad=True)
    opt = torch.optim.SGD([z, *protos.parameters()], lr=1.0)
    loss = (z - protos(torch.tensor([0, 1, 2, 0]))).pow(2).sum()
    loss.backward()
    opt.step()
    assert torch.equal(protos.matrix, before)


def test_learned_prototypes_move_with_training():
    protos = LearnedPrototypes(3, 6, seed=1)
    assert torch.equal(protos.matrix.detach(), orthogonal_prototypes(3, 6, seed=1))
    before = protos.matrix.detach().clone()
    opt = torch.optim.SGD(protos.parameters(), lr=0.5)
    protos(torch.tensor([0, 2])).sum().backward()
    opt.step()
    assert not torch.equal(protos.matrix.detach(), before)


@pytest.mark.parametrize("module", [FixedPrototypes(gaussian_prototypes(5, 7)), LearnedPrototypes(5, 7)])
def test_linear_in_soft_labels(module):
    gen = torch.Generator().manual_seed(0)
    a = torch.softmax(torch.randn(6, 5, generator=gen), 1)
    b = torch.softmax(torch.randn(6, 5, generator=gen), 1)
    w = 0.3
    mixed = module(w * a + (1 - w) * b)
    assert torch.allclose(mixed, w * module(a) + (1 - w) * module(b), atol=1e-6)
    hard = torch.tensor([4, 0, 2])
    assert torch.allclose(module(hard), module(torch.nn.functional.one_hot(hard, 5).float()))


def test_mixup_of_two_classes_maps_to_mixture_of_prototypes():
    protos = FixedPrototypes(orthogonal_prototypes(4, 8))
    y = torch.tensor([[0.0, 0.7, 0.0, 0.3]])
    assert torch.allclose(protos(y)[0], 0.7 * protos.matrix[1] + 0.3 * protos.matrix[3])


@pytest.mark.parametrize("labels", [torch.tensor([0, 3]), torch.tensor([-1, 0])])
def test_labels_out_of_range_rejected(labels):
    protos = FixedPrototypes(orthogonal_prototypes(3, 4))
    with pytest.raises(ValueError, match="labels"):
        protos(labels)


def test_soft_labels_of_wrong_width_rejected():
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        FixedPrototypes(orthogonal_prototypes(3, 4))(torch.ones(2, 4) / 4)


def test_factor_block_layout():
    protos = FactorPrototypes([6, 6, 6], dim=32, scale=3.0)
    assert protos.blocks == [slice(0, 6), slice(6, 12), slice(12, 18)]
    assert protos.residual == slice(18, 32)
    levels = torch.tensor([[0, 5, 2], [3, 3, 3]])
    out = protos(levels)
    assert out.shape == (2, 32)
    for row, lv in zip(out, levels):
        for block, level in zip(protos.blocks, lv):
            expected = torch.zeros(6)
            expected[level] = 3.0
            assert torch.equal(row[block], expected)
        assert torch.equal(row[protos.residual], torch.zeros(14))
    assert list(protos.parameters()) == []


def test_factor_prototypes_soft_levels_are_linear():
    protos = FactorPrototypes([2, 3], dim=6)
    soft = [torch.tensor([[0.25, 0.75]]), torch.tensor([[0.0, 0.5, 0.5]])]
    assert torch.allclose(protos(soft), torch.tensor([[0.25, 0.75, 0.0, 0.5, 0.5, 0.0]]))
    all_combos = torch.tensor(list(itertools.product(range(2), range(3))))
    assert torch.all(protos(all_combos).sum(1) == 2)  # one active dim per factor


def test_factor_prototypes_errors():
    with pytest.raises(ValueError, match="sum\\(levels\\)"):
        FactorPrototypes([6, 6, 6], dim=17)
    with pytest.raises(ValueError, match="levels"):
        FactorPrototypes([1, 4], dim=8)
    with pytest.raises(ValueError, match="labels"):
        FactorPrototypes([2, 2], dim=4)(torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match="scale"):
        FactorPrototypes([2, 2], dim=4, scale=0)


def test_zero_prototypes_turn_the_prototype_loss_into_a_norm_penalty():
    import torch.nn.functional as F

    from predefined_prototypes.method.losses import PrototypeLoss
    from predefined_prototypes.method.prototypes import FixedPrototypes, zero_prototypes

    logits, z, y = torch.randn(6, 4), torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = PrototypeLoss(FixedPrototypes(zero_prototypes(4, 8)), lam=0.5)(logits, z, y)
    expected = F.cross_entropy(logits, y) + 0.5 * (z**2).mean()  # mean over batch and dims, as the loss
    assert torch.allclose(loss, expected, atol=1e-6)


@pytest.mark.slow
def test_every_registered_prototype_kind_builds_and_the_config_takes_exactly_those():
    from predefined_prototypes.method.prototypes import prototype_builder
    from predefined_prototypes.method.registry import PROTOTYPE_KINDS
    from predefined_prototypes.run.config import ConfigError, RunConfig

    for name in PROTOTYPE_KINDS:
        assert RunConfig.from_dict(dict(prototypes=name)).loss_options.prototypes == name
        assert prototype_builder(name)(5, 8, 1.0, 0).shape == (5, 8)
    with pytest.raises(ConfigError, match="prototypes='spiral' is not valid"):
        RunConfig.from_dict(dict(prototypes="spiral"))
