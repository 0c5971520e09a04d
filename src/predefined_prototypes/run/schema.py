"""What a stored run records, declared once: the summary's layout version, the acoustic factors
and the edits evaluated on them, and every metric a results table may hold.

A summary's nested metrics become table columns joined by "_" (``metrics["fit"]["distance"]``
is the column ``fit_distance``). Each column matches one pattern of ``METRICS``, whose
placeholders run over the names below; a run whose summary holds a metric no pattern declares is
refused when it is stored, and ``store check`` names it. Code that reads a column builds its name
with ``column`` rather than by hand.

>>> column("probe", factor="pitch_median", source="whole")
'factors_probes_pitch_median_whole'
>>> column("fit_level_match", factor="loudness") in metric_columns()
True
>>> "geometry_cosine_centred_class_means" in metric_columns()  # retired
False
"""

from __future__ import annotations

import functools
import itertools
import string
from dataclasses import dataclass

from ..data import DATASETS, labelled_factors
from ..method.registry import FACTOR_NAMES

# The layout of a stored summary (metrics.json). Version 2: run ids by ``RunConfig.run_id``
# (the fields a run reads, away from their defaults), no machine path in the configuration, and
# training-set fit (``metrics.fit``) where the run has prototypes. Version 3: the dataset's own
# options in one mapping (``dataset_options``; EmoDB's ``classes`` was a field), ids unchanged.
# ``store migrate`` brings older summaries to it.
SCHEMA_VERSION = 3
REQUIRED_FIELDS = ("config", "data", "history", "metrics", "git_commit", "package_version", "wall_time_s")
REQUIRED_METRICS = ("accuracy", "macro_f1", "ece", "train_accuracy")
# Metrics that earlier versions wrote and nothing reads (not separation measures: see the
# geometry page); ``store migrate`` drops them from stored summaries and tables.
RETIRED_METRICS = (("geometry", "cosine_centred_class_means"),)


@dataclass(frozen=True)
class Edit:
    """One intervention: ``factor`` is the factor it aims to move, ``amount`` is in dB for
    loudness and in semitones for pitch (``interventions.py`` applies it)."""

    name: str
    factor: str
    amount: float


# The interventions every factor run reports, in display order.
EDITS = (
    Edit("louder", "loudness", 6.0),
    Edit("quieter", "loudness", -6.0),
    Edit("pitch_up", "pitch_median", 2.0),
    Edit("pitch_down", "pitch_median", -2.0),
)
FEW_SHOT_K = (1, 5, 20)  # support clips per novel class

# What each placeholder of a pattern runs over. A factor probe reads a factor's level from one
# source: the whole z, the emotion label alone, a factor's block, the residual, or the residual
# together with the emotion label.
# The factors are the acoustic ones and those some dataset labels (RAVDESS's intensity).
FACTORS = (*FACTOR_NAMES, *dict.fromkeys(f for name in DATASETS for f in labelled_factors(name)))
PLACEHOLDERS = {
    "factor": FACTORS,
    "block": (*FACTORS, "residual"),
    "edit": tuple(e.name for e in EDITS),
    "source": ("whole", "emotion", "residual", "residual_emotion", *(f"block_{f}" for f in FACTORS)),
    "shots": FEW_SHOT_K,
    "stat": ("mean", "std", "chance"),
}

# Every metric column: a key (what code asks ``column`` for), its pattern and what it measures.
METRICS = {
    "accuracy": ("accuracy", "test accuracy, arg-max of the classifier's logits"),
    "macro_f1": ("macro_f1", "test macro-averaged F1"),
    "ece": ("ece", "test expected calibration error (15 bins)"),
    "train_accuracy": ("train_accuracy", "accuracy on the training clips at the end, in evaluation mode"),
    "validation_accuracy": ("validation_accuracy", "accuracy on the held-out validation speaker"),
    "validation_ece": ("validation_ece", "expected calibration error on the validation speaker"),
    "validation_temperature": ("validation_temperature", "temperature fitted on the validation speaker"),
    "validation_test_ece_scaled": ("validation_test_ece_scaled", "test ECE after that temperature"),
    "geometry_cosine_class_means": ("geometry_cosine_class_means", "mean cosine between test class means"),
    "geometry_distance_ratio": ("geometry_distance_ratio", "between-class over within-class distance"),
    "geometry_silhouette": ("geometry_silhouette", "silhouette score of the test embeddings"),
    "geometry_cosine_to_prototype": ("geometry_cosine_to_prototype", "cosine of test class means to their prototypes"),
    "fit_distance": ("fit_distance", "the distance term on the training clips"),
    "fit_nearest_prototype_accuracy": (
        "fit_nearest_prototype_accuracy",
        "how often a training clip's nearest prototype is its own",
    ),
    "fit_cosine_to_own_prototype": ("fit_cosine_to_own_prototype", "cosine of training z to its own prototype"),
    "fit_level_match": ("fit_{factor}_level_match", "how often a block's nearest level code is the assigned level"),
    "fit_block_distance": ("fit_{block}_distance", "a block's distance term on the training clips"),
    "probe": ("factors_probes_{factor}_{source}", "balanced accuracy of a probe reading a factor's level"),
    "probe_chance": ("factors_probe_chance_{factor}", "a constant guess's balanced accuracy: 1 / levels present"),
    "emotion_flip_rate": ("factors_interventions_{edit}_emotion_flip_rate", "share of predictions an edit changes"),
    "measured_change": ("factors_interventions_{edit}_measured_change_{factor}", "mean change of a measured factor"),
    "measured_change_semitones": (
        "factors_interventions_{edit}_measured_change_pitch_median_semitones",
        "mean change of the measured pitch median, in semitones",
    ),
    "measured_shift": ("factors_interventions_{edit}_measured_shift_{factor}", "mean change of a factor's level"),
    "measured_valid": ("factors_interventions_{edit}_measured_valid", "share of edited clips still measurable"),
    "probe_shift": ("factors_interventions_{edit}_probe_shift_{factor}", "mean change of the level a probe reads"),
    "code_shift": ("factors_interventions_{edit}_code_shift_{factor}", "mean change of a block's nearest level"),
    "few_shot": ("novel_few_shot_{shots}_{stat}", "few-shot accuracy on novel classes over draws"),
    "novel_nc1": ("novel_nc1", "within- over between-class variability of the novel classes"),
    "novel_prototype_span_energy": (
        "novel_prototype_span_energy",
        "share of the novel class means' energy in the prototypes' span",
    ),
}


def column(key: str, **names) -> str:
    """The column name of metric ``key`` for the given placeholder values (KeyError for an
    unknown key or a missing placeholder)."""
    return METRICS[key][0].format(**names)


@functools.cache
def metric_columns() -> tuple[str, ...]:
    """Every column a results table may hold beyond the configuration, in declaration order."""
    columns = []
    for pattern, _ in METRICS.values():
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f]
        for values in itertools.product(*(PLACEHOLDERS[f] for f in fields)):
            columns.append(pattern.format(**dict(zip(fields, values))))
    return tuple(columns)


def undeclared(metrics: dict, prefix: str = "") -> list[str]:
    """The flattened names of a summary's scalar metrics that no pattern declares.

    >>> undeclared({"accuracy": 0.9, "fit": {"distance": 0.1, "wobble": 2}})
    ['fit_wobble']
    """
    names = []
    for key, value in metrics.items():
        name = f"{prefix}_{key}" if prefix else key
        if isinstance(value, dict):
            names += undeclared(value, name)
        elif not isinstance(value, list) and name not in metric_columns():
            names.append(name)
    return names
