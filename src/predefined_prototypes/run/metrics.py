"""What a run reports: classification quality, calibration, embedding geometry, and, where factors
are measured, how well each block of z carries its factor (probes, edits) and how it drives each
logit.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import f1_score, silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy.

    >>> accuracy(torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), torch.tensor([0, 1, 1]))
    0.6666666666666666
    """
    return (logits.argmax(dim=1) == labels).double().mean().item()


def macro_f1(logits: Tensor, labels: Tensor, num_classes: int) -> float:
    """F1 averaged over classes, each class counted equally (absent classes score 0)."""
    return float(
        f1_score(
            labels.numpy(),
            logits.argmax(dim=1).numpy(),
            labels=list(range(num_classes)),
            average="macro",
            zero_division=0,
        )
    )


def expected_calibration_error(logits: Tensor, labels: Tensor, bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over equal-width bins.

    >>> logits = torch.log(torch.tensor([[0.8, 0.2], [0.8, 0.2], [0.3, 0.7]]))
    >>> round(expected_calibration_error(logits, torch.tensor([0, 1, 1])), 4)  # 2/3*0.3 + 1/3*0.3
    0.3
    """
    confidence, predicted = torch.softmax(logits.double(), dim=1).max(dim=1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.double().mean().item() * abs(confidence[inside].mean().item() - correct[inside].mean().item())
    return ece


def fit_temperature(logits: Tensor, labels: Tensor) -> float:
    """The temperature T > 0 that minimises the negative log-likelihood of softmax(logits / T)
    (Guo et al., 2017), fitted on held-out clips; dividing by it changes no prediction.

    >>> _ = torch.manual_seed(0)
    >>> true = torch.randn(4000, 5)
    >>> labels = torch.distributions.Categorical(logits=true).sample()
    >>> round(fit_temperature(3 * true, labels), 1)  # logits three times too confident
    3.0
    """
    logits, labels = logits.double(), labels.long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_t.exp().item()


def confusion_matrix(logits: Tensor, labels: Tensor, num_classes: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    return sk_confusion_matrix(labels.numpy(), logits.argmax(dim=1).numpy(), labels=list(range(num_classes))).tolist()


def _mean_off_diagonal(matrix: Tensor) -> float:
    off = ~torch.eye(len(matrix), dtype=torch.bool)
    return matrix[off].mean().item()


def class_means(z: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Mean embedding of each class present [C, k] (absent classes give NaN rows)."""
    return torch.stack([z[labels == c].mean(dim=0) for c in range(num_classes)])


def class_mean_cosines(z: Tensor, labels: Tensor, num_classes: int, centred: bool = True) -> Tensor:
    """Cosine between every pair of class means [C, C], after removing the global mean of z when
    ``centred`` (classes absent from ``labels`` are left out).

    >>> z = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
    >>> class_mean_cosines(z, torch.tensor([0, 1]), 2).round(decimals=6).tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    """
    z = z.double()
    present = sorted(set(labels.tolist()))
    means = class_means(z, labels, num_classes)[present]
    if centred:
        means = means - z.mean(dim=0)
    unit = torch.nn.functional.normalize(means, dim=1)
    return unit @ unit.T


def embedding_geometry(z: Tensor, labels: Tensor, num_classes: int, prototypes: Tensor | None = None) -> dict:
    """How separated the classes are in z.

    - ``cosine_class_means``: mean off-diagonal cosine between raw class means;
    - ``distance_ratio``: mean distance between class means over mean distance of a sample to its
      class mean (higher is better separated);
    - ``silhouette``: scikit-learn's silhouette score with Euclidean distance;
    - ``cosine_to_prototype``: mean cosine of each class mean to its own prototype (if given).

    >>> z = torch.tensor([[1.0, 0.0], [1.1, 0.0], [0.0, 1.0], [0.0, 1.1]])
    >>> g = embedding_geometry(z, torch.tensor([0, 0, 1, 1]), 2)
    >>> round(g["cosine_class_means"], 3), round(g["distance_ratio"], 3)
    (0.0, 29.698)
    """
    z, present = z.double(), sorted(set(labels.tolist()))
    means = class_means(z, labels, num_classes)[present]
    unit = torch.nn.functional.normalize(means, dim=1)
    spread = (z - class_means(z, labels, num_classes)[labels]).norm(dim=1).mean().item()
    result = {
        "cosine_class_means": _mean_off_diagonal(class_mean_cosines(z, labels, num_classes, centred=False)),
        "distance_ratio": _mean_off_diagonal(torch.cdist(means, means)) / max(spread, 1e-12),
        # Defined for 2 <= classes < samples (a test split with one clip per class has none).
        "silhouette": float(silhouette_score(z.numpy(), labels.numpy())) if 1 < len(present) < len(z) else float("nan"),
    }
    if prototypes is not None:
        target = torch.nn.functional.normalize(prototypes.double()[present], dim=1)
        # A prototype at the origin (the zero control) has no direction: no cosine, not 0.
        has_direction = bool((prototypes.double()[present].norm(dim=1) > 0).all())
        result["cosine_to_prototype"] = (unit * target).sum(dim=1).mean().item() if has_direction else float("nan")
    return result


def collapse_geometry(z: Tensor, labels: Tensor, num_classes: int, prototypes: Tensor | None = None) -> dict:
    """Geometry that can fail, on test embeddings (each value's failure case in brackets):

    - ``nc1``: within- over between-class variability, tr(S_W S_B^+) / C (Papyan et al. 2020);
      0 when every embedding sits on its class mean [large for noise];
    - ``equinorm_cv``: coefficient of variation of the centred class-mean norms; 0 when all
      classes are equally far from the global mean [one class near the centre];
    - ``cosine_spread`` and ``cosine_max``: standard deviation and largest pairwise cosine of the
      centred class means; a simplex gives spread 0 and max -1/(C-1) [1 when two classes merge];
    - ``mean_norm``: mean ||z|| (what a norm penalty shrinks).

    With ``prototypes`` [C, k] (rows of zeros, the control, have no direction: those values are NaN):

    - ``cosine_to_prototype``: mean cosine of each (raw) class mean to its own prototype;
    - ``prototype_span_energy`` and ``prototype_span_chance``: the share of the class means'
      energy inside the span of the prototypes, and what isotropic means would give (rank / k);
    - ``nearest_prototype_accuracy``: accuracy of labelling each z by its nearest prototype.

    >>> protos = 3 * torch.eye(4, 8)
    >>> labels = torch.arange(40) % 4
    >>> g = collapse_geometry(protos[labels], labels, 4, protos)
    >>> g["nc1"], g["cosine_to_prototype"], g["prototype_span_energy"], g["nearest_prototype_accuracy"]
    (0.0, 1.0, 1.0, 1.0)
    """
    z, present = z.double(), sorted(set(labels.tolist()))
    every_mean = class_means(z, labels, num_classes)
    means = every_mean[present]
    centred = means - z.mean(dim=0)
    within = z - every_mean[labels]
    s_w = within.T @ within / len(z)
    s_b = centred.T @ centred / len(present)
    norms = centred.norm(dim=1)
    unit = torch.nn.functional.normalize(centred, dim=1)
    off = ~torch.eye(len(present), dtype=torch.bool)
    cosines = (unit @ unit.T)[off]
    result = {
        "nc1": max(torch.trace(s_w @ torch.linalg.pinv(s_b, hermitian=True)).item() / len(present), 0.0),
        "equinorm_cv": (norms.std(correction=0) / norms.mean()).item(),
        "cosine_spread": cosines.std(correction=0).item(),
        "cosine_max": cosines.max().item(),
        "mean_norm": z.norm(dim=1).mean().item(),
    }
    if prototypes is not None:
        protos = prototypes.double()
        if bool((protos[present].norm(dim=1) > 0).all()):
            target = torch.nn.functional.normalize(protos[present], dim=1)
            result.update(
                cosine_to_prototype=(torch.nn.functional.normalize(means, dim=1) * target).sum(dim=1).mean().item(),
                prototype_span_energy=span_energy(means, protos),
                prototype_span_chance=torch.linalg.matrix_rank(protos).item() / z.shape[1],
                nearest_prototype_accuracy=(torch.cdist(z, protos).argmin(dim=1) == labels).double().mean().item(),
            )
        else:
            result.update(
                {
                    k: float("nan")
                    for k in (
                        "cosine_to_prototype",
                        "prototype_span_energy",
                        "prototype_span_chance",
                        "nearest_prototype_accuracy",
                    )
                }
            )
    return result


def prototype_fit(z: Tensor, labels: Tensor, prototypes: Tensor) -> dict:
    """How closely embeddings reach their prototypes, for the clips a run trained on:

    - ``distance``: mean over clips and dimensions of (z - P(y))^2, the loss's distance term;
    - ``nearest_prototype_accuracy``: how often a clip's nearest prototype is its own class's
      (chance: 1 / classes) [NaN where prototypes coincide, as in the zero control];
    - ``cosine_to_own_prototype``: mean cosine of each clip's z to its own prototype (0 for
      directions unrelated to the prototypes) [NaN for prototypes at the origin].

    >>> protos, labels = 2 * torch.eye(3, 6), torch.arange(30) % 3
    >>> prototype_fit(protos[labels], labels, protos)
    {'distance': 0.0, 'nearest_prototype_accuracy': 1.0, 'cosine_to_own_prototype': 1.0}
    """
    z, protos = z.double(), prototypes.double()
    goal = protos[labels]
    result = {"distance": (z - goal).pow(2).mean().item()}
    distinct = len(torch.unique(protos, dim=0)) == len(protos)
    has_direction = bool((protos.norm(dim=1) > 0).all())
    result["nearest_prototype_accuracy"] = (
        (torch.cdist(z, protos).argmin(dim=1) == labels).double().mean().item() if distinct else float("nan")
    )
    result["cosine_to_own_prototype"] = (
        torch.nn.functional.cosine_similarity(z, goal, dim=1).mean().item() if has_direction else float("nan")
    )
    return result


def factor_fit(z: Tensor, levels: Tensor, blocks: list[slice], names: list[str], scale: float) -> dict:
    """How closely each factor block of z reaches its level code, for the clips a run trained on:
    per factor, ``level_match`` (how often the block's nearest code is the assigned level;
    chance about 1 / levels) and ``distance`` (mean squared distance of the block to its code).

    >>> blocks, levels = [slice(0, 3), slice(3, 5)], torch.tensor([[2, 0], [0, 1]])
    >>> codes = torch.cat([torch.eye(3)[levels[:, 0]], torch.eye(2)[levels[:, 1]]], dim=1)
    >>> factor_fit(codes, levels, blocks, ["pitch", "loudness"], 1.0)["pitch"]
    {'level_match': 1.0, 'distance': 0.0}
    """
    z = z.double()
    matched = nearest_codes(z, blocks) == levels
    result = {}
    for f, (name, block) in enumerate(zip(names, blocks)):
        code = scale * torch.eye(block.stop - block.start, dtype=z.dtype)[levels[:, f]]
        result[name] = {
            "level_match": matched[:, f].double().mean().item(),
            "distance": (z[:, block] - code).pow(2).mean().item(),
        }
    return result


def span_energy(vectors: Tensor, spanning: Tensor) -> float:
    """The share of the energy of ``vectors`` [N, k] inside the span of the rows of ``spanning``
    [C, k]; isotropic vectors put rank / k there.

    >>> round(span_energy(torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0]])), 6)
    0.36
    """
    vectors, spanning = vectors.double(), spanning.double()
    basis, singular, _ = torch.linalg.svd(spanning.T, full_matrices=False)
    basis = basis[:, singular > singular.max() * 1e-6]  # orthonormal basis of the span
    return ((vectors @ basis).pow(2).sum() / vectors.pow(2).sum()).item()


def few_shot_accuracy(
    support_z: Tensor,
    support_labels: Tensor,
    query_z: Tensor,
    query_labels: Tensor,
    shots: int,
    draws: int = 200,
    seed: int = 0,
) -> dict:
    """Nearest-class-mean accuracy of ``query_z`` when each class is known only by ``shots``
    support embeddings drawn at random (Euclidean distance to each class's support mean), over
    ``draws`` seeded draws: mean and standard deviation across draws, and chance (the most
    frequent query class's share).

    >>> labels = torch.arange(40) % 4
    >>> clustered = 5 * torch.eye(4, 8)[labels] + 0.1 * torch.randn(40, 8)
    >>> few_shot_accuracy(clustered, labels, clustered, labels, shots=1)["mean"]
    1.0
    """
    classes = sorted(set(query_labels.tolist()))
    pools = {c: (support_labels == c).nonzero().flatten() for c in classes}
    short = {c: len(p) for c, p in pools.items() if len(p) < shots}
    if short:
        raise ValueError(f"{shots}-shot needs {shots} support examples per class; class(es) {short} have fewer")
    generator = torch.Generator().manual_seed(seed)
    scores = []
    for _ in range(draws):
        means = torch.stack(
            [
                support_z[pools[c][torch.randperm(len(pools[c]), generator=generator)[:shots]]].mean(dim=0)
                for c in classes
            ]
        )
        predicted = torch.tensor(classes)[torch.cdist(query_z.float(), means.float()).argmin(dim=1)]
        scores.append((predicted == query_labels).double().mean().item())
    scores = torch.tensor(scores)
    return {
        "mean": scores.mean().item(),
        "std": scores.std(correction=0).item(),
        "chance": torch.bincount(query_labels).max().item() / len(query_labels),
    }


def fit_probe(train_x: Tensor, train_y: Tensor):
    """A linear probe (logistic regression on standardised inputs) fitted on ``train_x``."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return probe.fit(train_x.double().numpy(), train_y.numpy())


def balanced_accuracy(predicted: Tensor, truth: Tensor) -> float:
    """Recall averaged over the classes present in ``truth``: a constant or random guess scores
    1 / (number of classes) whatever the class frequencies.

    >>> balanced_accuracy(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1]))
    0.5
    """
    recalls = [(predicted[truth == c] == c).double().mean().item() for c in truth.unique()]
    return float(np.mean(recalls))


def one_hot_labels(labels: Tensor, num_classes: int) -> Tensor:
    return torch.nn.functional.one_hot(labels, num_classes).double()


def factor_probes(
    train: dict[str, Tensor], test: dict[str, Tensor], train_levels: Tensor, test_levels: Tensor, names: list[str]
) -> tuple[dict, dict]:
    """Balanced accuracy of a linear probe predicting each factor's level on the test speaker
    from each source of features (``train``/``test``: name -> [N, D], the same names in both),
    fitted on the training speakers; and the fitted probes, by factor then source. A factor
    with a single level among the training clips (tiny data sets) has no probe: NaN.

    >>> codes = torch.arange(60) % 3
    >>> block = torch.nn.functional.one_hot(codes, 3).double()
    >>> noise = torch.randn(60, 4)
    >>> scores, _ = factor_probes({"block": block, "noise": noise}, {"block": block, "noise": torch.randn(60, 4)},
    ...                           codes[:, None], codes[:, None], ["pitch"])
    >>> scores["pitch"]["block"], scores["pitch"]["noise"] < 0.7
    (1.0, True)
    """
    scores, probes = {}, {}
    for f, name in enumerate(names):
        scores[name], probes[name] = {}, {}
        for source, train_x in train.items():
            if train_x.shape[1] == 0 or len(train_levels[:, f].unique()) < 2:
                scores[name][source] = float("nan")  # nothing to read, or one level only: no probe
                continue
            probe = fit_probe(train_x, train_levels[:, f])
            predicted = torch.from_numpy(probe.predict(test[source].double().numpy()))
            scores[name][source] = balanced_accuracy(predicted, test_levels[:, f])
            probes[name][source] = probe
    return scores, probes


def mean_level_shift(before: Tensor, after: Tensor) -> list[float]:
    """Mean signed change of each column of decoded or measured levels [N, F] under an edit.

    >>> mean_level_shift(torch.tensor([[0, 2], [1, 2]]), torch.tensor([[1, 2], [2, 1]]))
    [1.0, -0.5]
    """
    return (after.double() - before.double()).mean(dim=0).tolist()


def nearest_codes(z: Tensor, blocks: list[slice]) -> Tensor:
    """The level whose prototype code (one-hot x scale) is nearest to each factor block of z:
    ``||z_b - s e_l||^2 = ||z_b||^2 - 2 s z_b[l] + s^2`` is smallest at the block's argmax.

    >>> nearest_codes(torch.tensor([[0.9, 0.1, 0.0, 0.2, 0.7]]), [slice(0, 3), slice(3, 5)]).tolist()
    [[0, 1]]
    """
    return torch.stack([z[:, block].argmax(dim=1) for block in blocks], dim=1)


def factor_contributions(weight: Tensor, z: Tensor, blocks: list[slice], residual: slice) -> Tensor:
    """Each block's additive share of every logit: ``W[:, block] @ z[block]`` for each factor
    block, then the residual block; [N, F + 1, C]. Summed over blocks, plus the bias, it gives
    the logits, so it explains a prediction in terms of the factors.

    >>> w, z = torch.ones(2, 4), torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    >>> factor_contributions(w, z, [slice(0, 1), slice(1, 3)], slice(3, 4))[0, :, 0].tolist()
    [1.0, 5.0, 4.0]
    """
    parts = [z[:, s] @ weight[:, s].T for s in [*blocks, residual]]
    return torch.stack(parts, dim=1)


def contrast_contributions(
    parts: Tensor, bias: Tensor, logits: Tensor, pair: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """Why the predicted class beat the runner-up: the contrast logit[predicted] - logit[runner-up]
    split exactly into one term per block (``parts`` from ``factor_contributions``, [N, B, C]) plus
    the bias difference. A raw contribution to one logit explains nothing (adding the same amount
    to every logit changes no prediction); a contrast does. ``pair`` fixes the two classes per
    row instead (to follow one contrast across edits of a clip). Returns (terms [N, B + 1], the
    last column the bias; contrasts [N], which the terms sum to).

    >>> w, z = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[3.0, 1.0]])
    >>> parts = factor_contributions(w, z, [slice(0, 1)], slice(1, 2))
    >>> bias = torch.tensor([0.0, 0.5])
    >>> terms, contrast = contrast_contributions(parts, bias, z @ w.T + bias)
    >>> terms.tolist(), contrast.tolist()
    ([[3.0, -1.0, -0.5]], [1.5])
    >>> contrast_contributions(parts, bias, z @ w.T + bias, (torch.tensor([1]), torch.tensor([0])))[1].tolist()
    [-1.5]
    """
    if pair is None:
        top2 = logits.topk(2, dim=1).indices
        pair = (top2[:, 0], top2[:, 1])
    first, second = pair
    rows = torch.arange(len(logits))
    terms = parts[rows, :, first] - parts[rows, :, second]
    terms = torch.cat([terms, (bias[first] - bias[second])[:, None]], dim=1)
    return terms, logits[rows, first] - logits[rows, second]


def as_numpy_record(values: dict) -> dict:
    """Make a metrics dict JSON-ready (floats, no NaN: NaN becomes None)."""

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (float, np.floating)):
            return None if np.isnan(v) else float(v)
        return v

    return clean(values)
