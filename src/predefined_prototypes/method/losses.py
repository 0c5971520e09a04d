"""Training losses: the prototype loss of the paper and the baselines it is compared with.

Every target may be integer labels [B] or label probabilities [B, C] (mixup), except the
orthogonal projection loss, which compares pairs of samples and needs hard labels.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .prototypes import FactorPrototypes, label_probabilities


def classification_loss(logits: Tensor, target: Tensor, bce: bool = False, smoothing: float = 0.0) -> Tensor:
    """Cross-entropy on the logits (``target``: labels [B] or probabilities [B, C]); with ``bce``,
    binary cross-entropy on sigmoid outputs against the (soft) one-hot targets, which the authors
    train with under mixup. ``smoothing`` is cross-entropy's label smoothing.

    >>> logits, y = torch.zeros(2, 4), torch.tensor([0, 3])
    >>> round(classification_loss(logits, y).item(), 4), round(classification_loss(logits, y, bce=True).item(), 4)
    (1.3863, 0.6931)
    """
    if not bce:
        return F.cross_entropy(logits, target, label_smoothing=smoothing)
    return F.binary_cross_entropy_with_logits(logits, label_probabilities(target, logits.shape[1]).to(logits.dtype))


class FocalLoss(nn.Module):
    """Softmax focal loss (Lin et al., ICCV 2017), averaged over the batch:

        L = - sum_c y_c (1 - p_c)^gamma log p_c

    With gamma = 0 it is exactly cross-entropy. The authors' code defaults to gamma = 0; we use
    the paper's usual gamma = 2.

    >>> logits, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    >>> torch.allclose(FocalLoss(gamma=0.0)(logits, y), F.cross_entropy(logits, y))
    True
    >>> FocalLoss()(logits, y).shape
    torch.Size([])
    """

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        y = label_probabilities(target, logits.shape[1]).to(logits.dtype)
        log_p = F.log_softmax(logits, dim=1)
        weight = (1 - log_p.exp()).pow(self.gamma)
        return -(y * weight * log_p).sum(dim=1).mean()


class OPLOutput(NamedTuple):
    """The orthogonal projection loss and its two terms, for logging."""

    loss: Tensor
    same_class_cosine: Tensor
    different_class_cosine: Tensor


class OrthogonalProjectionLoss(nn.Module):
    """Orthogonal Projection Loss (Ranasinghe et al., ICCV 2021) on L2-normalised embeddings:

        OPL = (1 - s) + gamma * d
        s = mean cos(z_i, z_j) over pairs i != j of the same class
        d = mean |cos(z_i, z_j)| over pairs of different classes

    It is added to cross-entropy with a small weight (0.1 in the authors' setup). The official
    OPL code disagrees with itself on gamma (0.5 or 2) and on the absolute value; we follow the
    prototype paper's authors (gamma = 2, with the absolute value) and expose both knobs.
    A batch without same-class pairs (or without different-class pairs) gives 0 for that term.

    >>> z, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    >>> out = OrthogonalProjectionLoss()(z, y)
    >>> out.loss.shape, bool(out.loss >= 0)
    (torch.Size([]), True)
    """

    def __init__(self, gamma: float = 2.0, absolute: bool = True):
        super().__init__()
        self.gamma = gamma
        self.absolute = absolute

    def forward(self, z: Tensor, labels: Tensor) -> OPLOutput:
        if torch.is_floating_point(labels):
            raise ValueError("OrthogonalProjectionLoss needs integer labels [B]; got probabilities")
        unit = F.normalize(z, dim=1)
        cosine = unit @ unit.T
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        eye = torch.eye(len(labels), dtype=torch.bool, device=z.device)
        same_pairs, different_pairs = same & ~eye, ~same
        zero = cosine.new_zeros(())
        s = cosine[same_pairs].mean() if same_pairs.any() else zero
        different = cosine[different_pairs]
        if self.absolute:
            different = different.abs()
        d = different.mean() if different_pairs.any() else zero
        same_term = 1 - s if same_pairs.any() else zero
        return OPLOutput(same_term + self.gamma * d, s, d)


class PrototypeLoss(nn.Module):
    """The paper's loss: cross-entropy on the classifier's logits plus the squared distance of the
    embedding to its predefined prototype,

        L = CE(logits, y) + lam * mean_{batch, dims} (z - P(y))^2

    Labels may be soft (mixup): CE takes probability targets and P(y) = y @ M is linear, so the
    target point is the same mixture of prototypes. With ``FactorPrototypes`` the distance target
    is P(alpha), from the factor levels passed as ``factors``; CE still uses the class labels.
    The authors keep lam = 1 and tune the prototype norm (``scale``) instead. ``smoothing`` is the
    cross-entropy term's label smoothing, so that a recipe with it applies to every loss alike.

    >>> from predefined_prototypes.method.prototypes import FixedPrototypes, orthogonal_prototypes
    >>> loss = PrototypeLoss(FixedPrototypes(orthogonal_prototypes(4, 16)), lam=1.0)
    >>> logits, z, y = torch.randn(8, 4), torch.randn(8, 16), torch.randint(0, 4, (8,))
    >>> loss(logits, z, y).shape
    torch.Size([])
    >>> sorted(loss.terms(logits, z, y))
    ['ce', 'distance']
    """

    def __init__(self, prototypes: nn.Module, lam: float = 1.0, bce: bool = False, smoothing: float = 0.0):
        super().__init__()
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.prototypes = prototypes
        self.lam = lam
        self.bce = bce  # binary cross-entropy in place of CE (``classification_loss``)
        self.smoothing = smoothing

    def terms(self, logits: Tensor, z: Tensor, target: Tensor, factors: Tensor | None = None) -> dict[str, Tensor]:
        """The two unweighted terms, for logging: {'ce' (or 'bce'): ..., 'distance': ...}."""
        if self.prototypes.by_factors:
            if factors is None:
                raise ValueError("FactorPrototypes need the factor levels: pass factors=[B, F]")
            goal = self.prototypes(factors)
        else:
            goal = self.prototypes(target)
        if goal.shape != z.shape:
            raise ValueError(f"embedding shape {tuple(z.shape)} does not match prototype shape {tuple(goal.shape)}")
        if torch.is_floating_point(target):
            target = label_probabilities(target, logits.shape[1]).to(logits.dtype)
        return {
            "bce" if self.bce else "ce": classification_loss(logits, target, self.bce, self.smoothing),
            "distance": F.mse_loss(z, goal),
        }

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        """The loss from its ``terms``: classification + lam * distance."""
        return terms["bce" if self.bce else "ce"] + self.lam * terms["distance"]

    def forward(self, logits: Tensor, z: Tensor, target: Tensor, factors: Tensor | None = None) -> Tensor:
        return self.combine(self.terms(logits, z, target, factors))


# --- what a run's ``loss`` trains with (declared in ``registry.LOSSES``) ------------------------


class Objective(nn.Module):
    """A training loss as the trainer calls it: ``(logits, z, target, labels, factors)`` in,
    ``(total, terms)`` out, ``terms`` being the unweighted parts logged in the history. ``target``
    is the labels or their probabilities (mixup), ``labels`` always the hard labels, ``factors``
    the factor levels [B, F] (factor prototypes only). A new loss is one subclass with
    ``build``, its options dataclass, and one entry in ``registry.LOSSES``."""

    @classmethod
    def build(cls, options, num_classes: int, embed_dim: int, seed: int = 0, factor_levels=()) -> Objective:
        """The objective from its loss's ``options`` and the run's shape: ``num_classes``, the
        embedding's ``embed_dim``, the run's ``seed`` and, for factor blocks, each factor's levels."""
        return cls()

    @property
    def prototypes(self) -> nn.Module | None:
        """The prototype module whose matrix the run stores, if the loss has one."""
        return None


class CrossEntropyObjective(Objective):
    """Cross-entropy on the classifier's logits (with label smoothing ``smoothing``).

    >>> loss, terms = CrossEntropyObjective()(torch.randn(8, 4), torch.randn(8, 16), torch.randint(0, 4, (8,)), None, None)
    >>> loss.shape, sorted(terms)
    (torch.Size([]), ['ce'])
    """

    def __init__(self, bce: bool = False, smoothing: float = 0.0):
        super().__init__()
        self.bce, self.smoothing = bce, smoothing

    @classmethod
    def build(cls, options, num_classes, embed_dim, seed=0, factor_levels=(), smoothing=0.0):
        return cls(options.bce, smoothing)

    def forward(self, logits, z, target, labels, factors):
        name = "bce" if self.bce else "ce"
        terms = {name: classification_loss(logits, target, self.bce, self.smoothing)}
        return terms[name], terms


class FocalObjective(Objective):
    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.focal = FocalLoss(gamma)

    @classmethod
    def build(cls, options, num_classes, embed_dim, seed=0, factor_levels=()):
        return cls(options.focal_gamma)

    def forward(self, logits, z, target, labels, factors):
        terms = {"focal": self.focal(logits, target)}
        return terms["focal"], terms


class OPLObjective(Objective):
    """Cross-entropy plus ``weight`` times the orthogonal projection loss on z."""

    def __init__(self, gamma: float = 2.0, weight: float = 0.1):
        super().__init__()
        self.opl, self.weight = OrthogonalProjectionLoss(gamma), weight

    @classmethod
    def build(cls, options, num_classes, embed_dim, seed=0, factor_levels=()):
        return cls(options.opl_gamma, options.opl_weight)

    def forward(self, logits, z, target, labels, factors):
        opl = self.opl(z, labels)
        terms = {"ce": F.cross_entropy(logits, target), "opl": opl.loss}
        return terms["ce"] + self.weight * opl.loss, terms


class PrototypeObjective(Objective):
    """``PrototypeLoss`` with the prototypes a subclass builds from the configuration.

    >>> from predefined_prototypes.method.options import PrototypeOptions
    >>> objective = PrototypeObjective.build(PrototypeOptions(lam=10), num_classes=4, embed_dim=16)
    >>> loss, terms = objective(torch.randn(8, 4), torch.randn(8, 16), torch.randint(0, 4, (8,)), None, None)
    >>> tuple(objective.prototypes.matrix.shape), sorted(terms)
    ((4, 16), ['ce', 'distance'])
    """

    def __init__(self, prototypes: nn.Module, lam: float = 1.0, bce: bool = False, smoothing: float = 0.0):
        super().__init__()
        self.prototype_loss = PrototypeLoss(prototypes, lam, bce, smoothing)

    @classmethod
    def build(cls, options, num_classes, embed_dim, seed=0, factor_levels=(), smoothing=0.0):
        from .prototypes import FixedPrototypes, prototype_builder

        matrix = prototype_builder(options.prototypes)(num_classes, embed_dim, options.scale, seed)
        return cls(FixedPrototypes(matrix), options.lam, options.bce, smoothing)

    @property
    def prototypes(self):
        return self.prototype_loss.prototypes

    def forward(self, logits, z, target, labels, factors):
        terms = self.prototype_loss.terms(logits, z, target, factors)
        return self.prototype_loss.combine(terms), terms


class LearnedPrototypeObjective(PrototypeObjective):
    """The prototype loss with prototypes trained with the model (initialised by ``prototypes``)."""

    @classmethod
    def build(cls, options, num_classes, embed_dim, seed=0, factor_levels=(), smoothing=0.0):
        from .prototypes import LearnedPrototypes

        prototypes = LearnedPrototypes(num_classes, embed_dim, options.scale, seed, init=options.prototypes)
        return cls(prototypes, options.lam, options.bce, smoothing)


class FactorPrototypeObjective(PrototypeObjective):
    """The prototype loss towards P(alpha), one block per factor with as many level codes as
    ``factor_levels`` gives it, and a free residual."""

    @classmethod
    def build(cls, options, num_classes, embed_dim, seed=0, factor_levels=()):
        return cls(FactorPrototypes(list(factor_levels), embed_dim, options.scale), options.lam, options.bce)
