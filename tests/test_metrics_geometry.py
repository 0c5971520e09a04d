"""Geometry metrics on constructed embeddings whose answer is known: each must be able to fail."""

import math

import pytest
import torch

from predefined_prototypes.method.prototypes import orthogonal_prototypes, simplex_etf_prototypes
from predefined_prototypes.run.metrics import collapse_geometry

C, K, N = 5, 16, 400
LABELS = torch.arange(N) % C


def test_perfect_collapse_onto_orthogonal_prototypes():
    protos = orthogonal_prototypes(C, K, scale=2.0)
    g = collapse_geometry(protos[LABELS], LABELS, C, protos)
    assert g["nc1"] < 1e-9 and g["equinorm_cv"] < 1e-6
    assert abs(g["cosine_max"] + 1 / (C - 1)) < 1e-6 and g["cosine_spread"] < 1e-6  # simplex after centring
    assert abs(g["cosine_to_prototype"] - 1) < 1e-9 and abs(g["prototype_span_energy"] - 1) < 1e-9
    assert g["prototype_span_chance"] == C / K and g["nearest_prototype_accuracy"] == 1.0
    assert abs(g["mean_norm"] - 2.0) < 1e-6


def test_noise_unrelated_to_the_labels():
    protos = orthogonal_prototypes(C, K)
    z = torch.randn(N, K, generator=torch.Generator().manual_seed(0))
    g = collapse_geometry(z, LABELS, C, protos)
    assert g["nc1"] > 10  # within-class spread dwarfs the tiny between-class one
    assert abs(g["prototype_span_energy"] - C / K) < 0.25  # near its chance value
    assert abs(g["nearest_prototype_accuracy"] - 1 / C) < 0.08
    assert abs(g["cosine_to_prototype"]) < 0.5


def test_one_class_merged_into_another():
    protos = simplex_etf_prototypes(C, K, scale=3.0)
    merged = LABELS.clone()
    merged[merged == 1] = 0  # class 1's clips embedded where class 0's are
    z = protos[merged] + 0.01 * torch.randn(N, K, generator=torch.Generator().manual_seed(1))
    g = collapse_geometry(z, LABELS, C, protos)
    assert g["cosine_max"] > 0.99  # two centred class means point the same way
    assert g["cosine_spread"] > 0.2
    assert abs(g["nearest_prototype_accuracy"] - (C - 1) / C) < 1e-9


def test_unequal_norms_and_the_zero_control():
    protos = orthogonal_prototypes(C, K)
    z = protos[LABELS] * torch.where(LABELS == 0, 0.1, 1.0)[:, None]  # class 0 near the origin
    g = collapse_geometry(z, LABELS, C, torch.zeros(C, K))
    assert g["equinorm_cv"] > 0.2
    assert all(math.isnan(g[k]) for k in ("cosine_to_prototype", "prototype_span_energy", "nearest_prototype_accuracy"))


def test_few_shot_accuracy_is_perfect_on_clustered_classes_and_chance_on_noise():
    from predefined_prototypes.run.metrics import few_shot_accuracy

    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 2
    clustered = 4 * torch.eye(2, 16)[labels] + 0.2 * torch.randn(200, 16, generator=generator)
    for shots in (1, 5, 20):
        assert few_shot_accuracy(clustered, labels, clustered, labels, shots, draws=50)["mean"] == 1.0
    noise_support, noise_query = torch.randn(200, 16, generator=generator), torch.randn(200, 16, generator=generator)
    result = few_shot_accuracy(noise_support, labels, noise_query, labels, shots=5, draws=200)
    # 200 draws x 200 queries of two balanced classes: the mean sits at 0.5 within a few points.
    assert result["chance"] == 0.5 and abs(result["mean"] - 0.5) < 0.04


def test_few_shot_accuracy_refuses_too_few_support_examples():
    from predefined_prototypes.run.metrics import few_shot_accuracy

    labels = torch.tensor([0, 0, 1])
    with pytest.raises(ValueError, match=r"5-shot needs 5 support examples per class; class\(es\) \{0: 2, 1: 1\}"):
        few_shot_accuracy(torch.randn(3, 4), labels, torch.randn(3, 4), labels, shots=5)


def test_span_energy_of_directions_inside_outside_and_at_random():
    from predefined_prototypes.run.metrics import span_energy

    basis = torch.eye(4, 16)  # prototypes span the first 4 of 16 dimensions
    assert span_energy(torch.randn(10, 16) * torch.cat([torch.ones(4), torch.zeros(12)]), basis) == pytest.approx(1.0)
    assert span_energy(torch.randn(10, 16) * torch.cat([torch.zeros(4), torch.ones(12)]), basis) == pytest.approx(0.0)
    isotropic = torch.randn(20000, 16, generator=torch.Generator().manual_seed(0))
    assert span_energy(isotropic, basis) == pytest.approx(4 / 16, abs=0.01)


def test_silhouette_is_undefined_with_one_sample_per_class_not_an_error():
    from predefined_prototypes.run.metrics import embedding_geometry

    geometry = embedding_geometry(torch.randn(3, 4), torch.tensor([0, 1, 2]), 3)
    assert math.isnan(geometry["silhouette"]) and not math.isnan(geometry["distance_ratio"])


def test_contrast_terms_sum_to_the_contrast_and_ignore_shifts_common_to_every_logit():
    from predefined_prototypes.run.metrics import contrast_contributions, factor_contributions

    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(4, 10, generator=generator), torch.randn(4, generator=generator)
    z = torch.randn(30, 10, generator=generator)
    blocks, residual = [slice(0, 3), slice(3, 6)], slice(6, 10)
    logits = z @ weight.T + bias
    terms, contrast = contrast_contributions(factor_contributions(weight, z, blocks, residual), bias, logits)
    assert torch.allclose(terms.sum(dim=1), contrast, atol=1e-5) and (contrast >= 0).all()
    # The same amount added to every class's weights on a block moves every logit alike: the
    # raw contributions change, the contrast terms do not.
    shifted = weight + torch.cat([torch.zeros(4, 3), torch.ones(4, 3), torch.zeros(4, 4)], dim=1)
    shifted_terms, _ = contrast_contributions(
        factor_contributions(shifted, z, blocks, residual), bias, z @ shifted.T + bias
    )
    assert torch.allclose(shifted_terms, terms, atol=1e-5)
