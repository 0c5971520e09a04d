"""Geometry metrics on constructed embeddings whose answer is known: each must be able to fail."""

import math

import torch

from predefined_prototypes.metrics import collapse_geometry
from predefined_prototypes.prototypes import orthogonal_prototypes, simplex_etf_prototypes

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
