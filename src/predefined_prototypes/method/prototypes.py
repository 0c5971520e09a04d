"""Prototype extractors P: labels -> points in embedding space.

A prototype matrix M has one row per class (shape [C, dim]). For a label y given either as an
integer or as a probability vector over classes, the prototype is ``P(y) = y @ M``, so a mixup
target ``a * e_i + (1 - a) * e_j`` maps to ``a * M[i] + (1 - a) * M[j]``: the extractor is linear
in the label, as the paper requires.

The matrix builders below all share one signature, ``(num_classes, dim, scale=1.0, seed=0)``,
and return ``scale`` times rows of (about) unit norm, so an ablation changes only the geometry.

``FixedPrototypes`` keeps a matrix as a buffer (saved with the model, never trained);
``LearnedPrototypes`` keeps it as a parameter; ``FactorPrototypes`` builds the disentangled
prototypes ``P(y, alpha) = (P'(alpha), 0)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .registry import PROTOTYPE_KINDS, resolve


def _check_geometry(num_classes: int, dim: int, scale: float) -> None:
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _haar_orthogonal(n: int, generator: torch.Generator) -> Tensor:
    """An n x n orthogonal matrix drawn uniformly (Haar measure), in float64.

    QR of a Gaussian matrix, with the signs of R's diagonal folded into Q: without that fold
    the distribution is not uniform (Mezzadri 2007).
    """
    q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


def orthogonal_prototypes(num_classes: int, dim: int, scale: float = 1.0, seed: int = 0) -> Tensor:
    """Orthogonal prototypes, the paper's choice.

    - ``num_classes <= dim``: the first C rows of a Haar-random dim x dim orthogonal matrix,
      so ``M @ M.T = scale**2 * I``.
    - ``num_classes > dim``: C vectors cannot be orthogonal in dim dimensions. As in the authors'
      code, an orthonormal C x C basis B is projected by a Gaussian Johnson-Lindenstrauss matrix
      J (entries N(0, 1/dim)): ``M = B @ J``. Rows are not renormalised; norms and pairwise
      distances are preserved up to the JL distortion (see ``jl_distortion_bound``).

    >>> m = orthogonal_prototypes(10, 32, scale=2.0)
    >>> m.shape
    torch.Size([10, 32])
    >>> torch.allclose(m @ m.T, 4 * torch.eye(10), atol=1e-5)
    True
    """
    _check_geometry(num_classes, dim, scale)
    g = _generator(seed)
    if num_classes <= dim:
        matrix = _haar_orthogonal(dim, g)[:num_classes]
    else:
        warnings.warn(
            f"num_classes={num_classes} > dim={dim}: exact orthogonality is impossible; using a "
            "Johnson-Lindenstrauss projection of an orthonormal basis (rows nearly orthogonal).",
            stacklevel=2,
        )
        basis = _haar_orthogonal(num_classes, g)
        jl = torch.randn(num_classes, dim, generator=g, dtype=torch.float64) / math.sqrt(dim)
        matrix = basis @ jl
    return (scale * matrix).float()


def jl_distortion_bound(num_points: int, dim: int, failure_probability: float = 1e-3) -> float:
    """Relative distortion eps of squared distances that a Gaussian JL map to ``dim`` dimensions
    keeps for all pairs of ``num_points`` points with probability >= 1 - failure_probability.

    From the chi-square tail ``P(|X/k - 1| > eps) <= 2 exp(-k (eps^2/2 - eps^3/3) / 2)`` and a
    union bound over the n(n+1)/2 norms and differences (Dasgupta & Gupta, 2003). Solved for eps
    by bisection; ``inf`` when no eps <= 1 is guaranteed.

    >>> round(jl_distortion_bound(100, 4096), 3)
    0.131
    """
    events = num_points * (num_points + 1) / 2
    need = math.log(2 * events / failure_probability) * 2 / dim

    def rate(eps: float) -> float:
        return eps**2 / 2 - eps**3 / 3

    if rate(1.0) < need:  # rate() increases on [0, 1]; beyond that the bound is vacuous
        return float("inf")
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if rate(mid) < need else (lo, mid)
    return hi


def gaussian_prototypes(num_classes: int, dim: int, scale: float = 1.0, seed: int = 0) -> Tensor:
    """Independent random directions (Gaussian rows normalised to unit length), times ``scale``.

    The ablation's "no structure" choice: nearly orthogonal when dim >> C, with random cosines
    of spread about 1/sqrt(dim).

    >>> m = gaussian_prototypes(5, 16, scale=3.0)
    >>> m.shape, torch.allclose(m.norm(dim=1), torch.full((5,), 3.0))
    (torch.Size([5, 16]), True)
    """
    _check_geometry(num_classes, dim, scale)
    rows = torch.randn(num_classes, dim, generator=_generator(seed), dtype=torch.float64)
    return (scale * rows / rows.norm(dim=1, keepdim=True)).float()


def simplex_etf_prototypes(num_classes: int, dim: int, scale: float = 1.0, seed: int = 0) -> Tensor:
    """A regular simplex (simplex equiangular tight frame): unit rows with all pairwise cosines
    equal to -1/(C-1), the most separated configuration of C points (the neural-collapse
    geometry). Needs dim >= C - 1; the simplex is placed in a random (seeded) subspace.

    >>> m = simplex_etf_prototypes(4, 8)
    >>> cos = m @ m.T
    >>> torch.allclose(cos, torch.full((4, 4), -1 / 3) + (4 / 3) * torch.eye(4), atol=1e-5)
    True
    """
    _check_geometry(num_classes, dim, scale)
    if dim < num_classes - 1:
        raise ValueError(f"dim must be >= num_classes - 1 = {num_classes - 1} for a simplex ETF, got dim={dim}")
    c = num_classes
    centred = torch.eye(c, dtype=torch.float64) - 1.0 / c
    # The centred identity has rank C-1; its eigenvectors with eigenvalue 1 give the simplex's
    # coordinates in C-1 dimensions.
    eigenvalues, eigenvectors = torch.linalg.eigh(centred)
    coords = eigenvectors[:, eigenvalues > 0.5] * math.sqrt(c / (c - 1))  # [C, C-1], unit rows
    rotation = _haar_orthogonal(dim, _generator(seed))[: c - 1]  # [C-1, dim], orthonormal rows
    return (scale * coords @ rotation).float()


def hyperspherical_prototypes(
    num_classes: int, dim: int, scale: float = 1.0, seed: int = 0, steps: int = 1000
) -> Tensor:
    """Points spread on the unit sphere by a short optimisation before training, after Mettes et
    al., "Hyperspherical Prototype Networks" (NeurIPS 2019): minimise the mean over classes of
    the largest cosine to any other class, with SGD (lr 0.1, momentum 0.9), renormalising after
    every step (and a step size decaying linearly to 0). Useful when C > dim, where orthogonality is impossible.

    >>> m = hyperspherical_prototypes(6, 3, steps=300)
    >>> m.shape, bool((m @ m.T - 2 * torch.eye(6)).max() < 0.05)  # octahedron: max cosine 0
    (torch.Size([6, 3]), True)
    """
    _check_geometry(num_classes, dim, scale)
    points = torch.randn(num_classes, dim, generator=_generator(seed), dtype=torch.float64)
    points = nn.Parameter(points / points.norm(dim=1, keepdim=True))
    optimizer = torch.optim.SGD([points], lr=0.1, momentum=0.9)
    # The max-cosine objective is not smooth: with a constant step the points keep oscillating,
    # so the step decays linearly to 0 and the configuration settles.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    off_diagonal = 2.0 * torch.eye(num_classes, dtype=torch.float64)
    for _ in range(steps):
        cosine = points @ points.T - off_diagonal  # push the diagonal out of max()
        loss = cosine.max(dim=1).values.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            points /= points.norm(dim=1, keepdim=True)
    return (scale * points.detach()).float()


def zero_prototypes(num_classes: int, dim: int, scale: float = 1.0, seed: int = 0) -> Tensor:
    """Every class's prototype at the origin: the control that makes the prototype loss
    CE + lambda * ||z||^2, a pure norm penalty. A gain of real prototypes over this control is
    what their placement adds; ``scale`` and ``seed`` are accepted and ignored.

    >>> zero_prototypes(4, 8).abs().sum().item()
    0.0
    """
    _check_geometry(num_classes, dim, scale)
    return torch.zeros(num_classes, dim)


def prototype_geometry(matrix: Tensor) -> dict[str, float]:
    """Summary of how well a prototype matrix [C, dim] separates classes: the largest and the mean
    absolute cosine between two different rows, and the smallest distance between two rows.

    >>> prototype_geometry(orthogonal_prototypes(3, 3))
    {'max_cosine': 0.0, 'mean_abs_cosine': 0.0, 'min_distance': 1.4142}
    """
    unit = nn.functional.normalize(matrix.double(), dim=1)
    off_diagonal = ~torch.eye(len(matrix), dtype=torch.bool)
    cosine = (unit @ unit.T)[off_diagonal]
    distance = torch.cdist(matrix.double(), matrix.double())[off_diagonal]
    summary = {
        "max_cosine": cosine.max().item(),
        "mean_abs_cosine": cosine.abs().mean().item(),
        "min_distance": distance.min().item(),
    }
    return {key: round(value, 4) + 0.0 for key, value in summary.items()}  # + 0.0: no "-0.0"


def prototype_builder(name: str):
    """The construction registered as ``name`` (``registry.PROTOTYPE_KINDS``)."""
    if name not in PROTOTYPE_KINDS:
        raise ValueError(f"unknown prototype construction {name!r}; valid: {', '.join(PROTOTYPE_KINDS)}")
    return resolve(PROTOTYPE_KINDS[name], __package__)


def label_probabilities(labels: Tensor, num_classes: int) -> Tensor:
    """Integer labels [B] -> one-hot float [B, C]; probabilities [B, C] pass through (checked).

    >>> label_probabilities(torch.tensor([2, 0]), 3)
    tensor([[0., 0., 1.],
            [1., 0., 0.]])
    """
    if not torch.is_floating_point(labels):
        if labels.dim() != 1:
            raise ValueError(f"integer labels must have shape [B], got {tuple(labels.shape)}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"labels must lie in [0, {num_classes - 1}], got values in [{int(labels.min())}, {int(labels.max())}]"
            )
        return nn.functional.one_hot(labels.long(), num_classes).float()
    if labels.dim() != 2 or labels.shape[1] != num_classes:
        raise ValueError(f"label probabilities must have shape [B, {num_classes}], got {tuple(labels.shape)}")
    return labels


class _PrototypeLookup(nn.Module):
    """Shared forward for a module whose attribute ``matrix`` is [C, dim]. ``by_factors``: the
    prototypes are looked up by the factor levels rather than by the class labels."""

    matrix: Tensor
    by_factors = False

    @property
    def num_classes(self) -> int:
        return self.matrix.shape[0]

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    def forward(self, labels: Tensor) -> Tensor:
        if not torch.is_floating_point(labels):
            label_probabilities(labels, self.num_classes)  # validates shape and range
            return self.matrix[labels.long()]
        return label_probabilities(labels, self.num_classes).to(self.matrix.dtype) @ self.matrix


class FixedPrototypes(_PrototypeLookup):
    """Predefined prototypes: the matrix is a buffer, saved in the state dict, never trained.

    >>> protos = FixedPrototypes(orthogonal_prototypes(4, 8))
    >>> protos(torch.tensor([0, 3])).shape, len(list(protos.parameters()))
    (torch.Size([2, 8]), 0)
    >>> mix = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    >>> torch.allclose(protos(mix), (protos.matrix[0] + protos.matrix[1]) / 2)
    True
    """

    def __init__(self, matrix: Tensor):
        super().__init__()
        if matrix.dim() != 2 or matrix.shape[0] < 2:
            raise ValueError(f"matrix must have shape [C >= 2, dim], got {tuple(matrix.shape)}")
        self.register_buffer("matrix", matrix.detach().clone().float())


class LearnedPrototypes(_PrototypeLookup):
    """Learned prototypes: the same interface, with the matrix an ``nn.Parameter`` trained with the
    model. Initialised from a prototype builder (default orthogonal) so that the only difference
    from ``FixedPrototypes`` is that the matrix moves.

    >>> protos = LearnedPrototypes(4, 8)
    >>> protos(torch.tensor([1])).shape, sum(p.numel() for p in protos.parameters())
    (torch.Size([1, 8]), 32)
    """

    def __init__(self, num_classes: int, dim: int, scale: float = 1.0, seed: int = 0, init: str = "orthogonal"):
        super().__init__()
        self.matrix = nn.Parameter(prototype_builder(init)(num_classes, dim, scale, seed))


class FactorPrototypes(_PrototypeLookup):
    """Disentangled prototypes ``P(y, alpha) = (P'(alpha), 0)``, looked up by the factor levels.

    Factor f with ``levels[f]`` levels owns a block of that many dimensions at the start of z,
    in order; the block holds the one-hot code of the factor's level times ``scale``. Every
    remaining dimension (the residual block) is pulled to 0. The target does not depend on the
    class: the classifier reads the whole z, and its weights on each factor block tell how much
    that factor drives a prediction.

    Input: integer levels [B, F], or a sequence of F per-factor level probabilities [B, L_f].
    Internally this is ``concat(one_hot(alpha_f)) @ M`` with ``M = scale * [I, 0]``, so soft
    levels map linearly, like soft labels.

    >>> protos = FactorPrototypes([3, 2], dim=8, scale=2.0)
    >>> protos.blocks, protos.residual
    ([slice(0, 3, None), slice(3, 5, None)], slice(5, 8, None))
    >>> protos(torch.tensor([[2, 0]]))
    tensor([[0., 0., 2., 2., 0., 0., 0., 0.]])
    """

    by_factors = True

    def __init__(self, levels: Sequence[int], dim: int, scale: float = 1.0):
        super().__init__()
        levels = [int(n) for n in levels]
        if not levels or any(n < 2 for n in levels):
            raise ValueError(f"levels must be a non-empty list of ints >= 2, got {levels}")
        if sum(levels) > dim:
            raise ValueError(
                f"sum(levels) = {sum(levels)} exceeds dim = {dim}: each factor level needs its own "
                "dimension; raise dim or use fewer levels"
            )
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.levels = levels
        bounds = [0, *torch.tensor(levels).cumsum(0).tolist()]
        self.blocks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self.residual = slice(bounds[-1], dim)
        matrix = torch.zeros(sum(levels), dim)
        matrix[:, : sum(levels)] = scale * torch.eye(sum(levels))
        self.register_buffer("matrix", matrix)

    def forward(self, factor_levels: Tensor | Sequence[Tensor]) -> Tensor:
        if isinstance(factor_levels, Tensor) and not torch.is_floating_point(factor_levels):
            if factor_levels.dim() != 2 or factor_levels.shape[1] != len(self.levels):
                raise ValueError(
                    f"factor levels must have shape [B, {len(self.levels)}], got {tuple(factor_levels.shape)}"
                )
            per_factor = [factor_levels[:, f] for f in range(len(self.levels))]
        else:
            per_factor = list(factor_levels)
            if len(per_factor) != len(self.levels):
                raise ValueError(f"expected level probabilities for {len(self.levels)} factors, got {len(per_factor)}")
        codes = [label_probabilities(a, n) for a, n in zip(per_factor, self.levels)]
        return torch.cat(codes, dim=1).to(self.matrix.dtype) @ self.matrix
