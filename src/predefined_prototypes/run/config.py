"""The configuration of one run: what every run has (its data, fold, backbone, loss, recipe and
seed), each part's own options checked by that part, all validated at construction.

Validation needs neither torch nor the data, so a typo fails in well under a second. Sweep files,
command lines and stored summaries name every option flat (``lam=10``, ``epochs=45``,
``channels=16``): ``from_dict`` hands each to the part that owns it, and ``to_dict`` writes them
back the same way, so that stored runs keep their ids.

>>> RunConfig(loss="ce", recipe={"epochs": 2}).recipe.epochs
2
>>> config = RunConfig.from_args(["loss=focal", "focal_gamma=1", "factors=pitch_median,loudness"])
>>> config.loss_options.focal_gamma, config.factors
(1.0, ('pitch_median', 'loudness'))
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from functools import partial

from ..data import DATASETS, check_options, labelled_factors
from ..method.options import build_options, coerce, flat, type_hints, typed
from ..method.registry import FACTOR_LEVELS, FACTOR_NAMES, FACTOR_OPTIONS, LOSSES, loss_options
from .backbones import BACKBONES, GE2E_MEL_BINS, OWN_NAMES, backbone_options, stored_options
from .recipe import Recipe

DEVICES = ("auto", "cpu", "cuda")
ON_ERROR = ("raise", "skip")
CROPS = ("random", "start")
VALIDATION = ("none", "next_speaker")
MAX_MEL_BINS = 256
MIN_CLIP_SECONDS, MAX_CLIP_SECONDS = 0.025, 30.0  # the longest clip of any dataset here: 9 s (EmoDB)
MAX_EMBED_DIM = 4096  # far above any sweep here or in the paper
MAX_SEED = 2**32 - 1  # numpy's seeds
# The fields holding a part's options (checked by that part), and the recipe.
PARTS = ("backbone_options", "loss_options", "recipe")

# Fields that never enter a run's id: where its files go, free-form notes, how often test accuracy
# is logged (evaluation draws no random numbers and updates no statistics), and what is particular
# to a machine (where the dataset lies, which device runs it), so that a run finished on one
# machine counts as finished on every other.
NOT_IDENTIFYING = ("out", "extra", "eval_every", "data_dir", "device")
# Keys a stored or typed configuration may still use, and what replaced them.
RENAMED = {"classes": "dataset_options (e.g. dataset_options.classes=4 for EmoDB's four classes)"}


class ConfigError(ValueError):
    """A configuration key or value is not valid; the message lists the valid ones."""


@dataclass
class RunConfig:
    # data
    dataset: str = "fsdd"
    data_dir: str | None = None  # default: $PP_DATA_DIR/<dataset>
    fold: str | None = None  # a fold id as text ("theo", "03", "1"); None: the dataset's first
    on_error: str = "raise"  # a bad audio file stops the run; "skip" leaves it out (listed in metrics.json)
    # The dataset's own options, checked by its module (``data/<name>.py`` OPTIONS): EmoDB
    # classes 7 or 4 (IEMOCAP-like), ESC-50 esc10, IEMOCAP merge_excited. A run's id hashes each
    # option away from its default by the option's own name, as if it were a field.
    dataset_options: dict = field(default_factory=dict)
    clip_seconds: float | None = None  # None: the dataset's default
    # Where training takes each clip's clip_seconds: a random offset each time, or always the start,
    # which is what evaluation sees and what the acoustic factors are measured on.
    crop: str = "random"
    # "next_speaker": the training speaker after the test speaker (in the dataset's fold order,
    # wrapping) is held out of training as a validation set, for choosing settings without the
    # test speaker and for fitting a temperature; its metrics are stored with the run's.
    validation: str = "none"
    num_mel_bins: int = 40  # the paper: 128; 40 keeps the CPU sweep affordable
    novel_classes: tuple[str, ...] = ()  # class names held out of training, for few-shot evaluation
    # model: the backbone and its own options (``backbones.py``; a mapping is checked there)
    backbone: str = "cnn"
    embed_dim: int = 32
    backbone_options: object = None  # None: the backbone's defaults
    # loss: its own options (``registry.LOSSES``, ``method/options.py``; a mapping is checked there)
    loss: str = "prototypes"
    loss_options: object = None  # None: the loss's defaults
    # The factors a run measures, whether it pulls towards them (factor prototypes) or only probes
    # them: acoustic (measured) or labelled by the dataset, each cut into factor_levels (a labelled
    # factor has its labels' levels).
    factors: tuple[str, ...] = FACTOR_NAMES
    factor_levels: int = FACTOR_LEVELS
    # The authors' validity filter on the acoustic factors (median pitch in 85-275 Hz, loudness in
    # -50-0 LUFS); false keeps every clip whose factors can be measured, levels still cut at the
    # training speakers' quantiles.
    factor_filter: bool = True
    # Measure the factors for a loss that does not train on them (a reference for the factor
    # prototypes): the same utterances are kept, and the same probes and edits are reported.
    probe_factors: bool = False
    # training: every choice but the loss (``recipe.py``; a mapping is checked there)
    recipe: Recipe = field(default_factory=Recipe)
    seed: int = 0
    device: str = "auto"
    fail_at_chance: bool = True  # a run whose training accuracy ends at chance fails (not a result)
    out: str | None = None
    extra: dict = field(default_factory=dict, repr=False)  # free-form notes (e.g. sweep name)

    def __post_init__(self) -> None:
        hints = type_hints(type(self))
        for f in dataclasses.fields(self):
            if f.name not in PARTS:
                value = getattr(self, f.name)
                if f.name == "fold" and isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)  # YAML reads ``fold: 1`` as a number
                setattr(self, f.name, _checked(partial(typed, hints[f.name], f.name, value)))
        choices = {
            "dataset": tuple(DATASETS),  # read live: a dataset registered after import counts
            "backbone": tuple(BACKBONES),
            "loss": tuple(LOSSES),
            "device": DEVICES,
            "on_error": ON_ERROR,
            "crop": CROPS,
            "validation": VALIDATION,
        }
        for key, valid in choices.items():
            if getattr(self, key) not in valid:
                raise ConfigError(f"{key}={getattr(self, key)!r} is not valid; valid values: {', '.join(valid)}")
        self.recipe = _part("recipe", Recipe, self.recipe)
        self.loss_options = _part(f"loss={self.loss}", LOSSES[self.loss].options, self.loss_options)
        self.backbone_options = _part(
            f"backbone={self.backbone}", BACKBONES[self.backbone].options, self.backbone_options
        )
        self._check_data()
        self._check_combinations()

    def _check_data(self) -> None:
        if isinstance(self.novel_classes, str):
            self.novel_classes = tuple(c for c in self.novel_classes.split(",") if c)
        self.novel_classes = tuple(str(c) for c in self.novel_classes)
        if isinstance(self.factors, str):
            self.factors = tuple(f for f in self.factors.split(",") if f)
        self.factors = tuple(self.factors)
        known = (*FACTOR_NAMES, *labelled_factors(self.dataset))
        unknown = [f for f in self.factors if f not in known]
        if unknown or not self.factors or len(set(self.factors)) < len(self.factors):
            raise ConfigError(
                f"factors={','.join(self.factors)!r} is not valid for dataset={self.dataset}; "
                f"choose some of: {', '.join(known)}, each once"
            )
        if self.num_mel_bins > MAX_MEL_BINS:
            raise ConfigError(
                f"num_mel_bins must be at most {MAX_MEL_BINS} (the paper uses 128), got {self.num_mel_bins}"
            )
        if self.embed_dim < 1 or self.num_mel_bins < 1:
            raise ConfigError(f"embed_dim and num_mel_bins must be >= 1, got {self.embed_dim} and {self.num_mel_bins}")
        if self.embed_dim > MAX_EMBED_DIM:
            raise ConfigError(f"embed_dim must be at most {MAX_EMBED_DIM}, got {self.embed_dim}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED} (2^32 - 1), got {self.seed}")
        if self.clip_seconds is not None and not self.clip_seconds > 0:
            raise ConfigError(f"clip_seconds must be > 0 (or none for the dataset's default), got {self.clip_seconds}")
        if self.clip_seconds is not None and not MIN_CLIP_SECONDS <= self.clip_seconds <= MAX_CLIP_SECONDS:
            raise ConfigError(
                f"clip_seconds must be between {MIN_CLIP_SECONDS} (one 25 ms analysis window) and "
                f"{MAX_CLIP_SECONDS}, got {self.clip_seconds}"
            )
        if not 2 <= self.factor_levels <= 8:
            raise ConfigError(f"factor_levels must be between 2 and 8, got {self.factor_levels}")
        self.dataset_options = _checked(lambda: check_options(self.dataset, self.dataset_options), "dataset_options")

    def _check_combinations(self) -> None:
        """What one part's options cannot check alone: how they combine with the others'."""
        loss, recipe = LOSSES[self.loss], self.recipe
        if self.novel_classes and loss.factor_blocks:
            raise ConfigError(
                "novel_classes holds classes out for few-shot evaluation; factor_prototypes does not use it"
            )
        if self.measures_factors and not DATASETS[self.dataset].SPEECH_WITH_PITCH:
            what = "probe_factors" if not loss.factor_blocks else f"loss={self.loss}"
            speech = [name for name, module in DATASETS.items() if module.SPEECH_WITH_PITCH]
            raise ConfigError(f"{what} needs speech with pitch: dataset={' or '.join(speech)}")
        block = sum(self.factor_level_counts())
        if loss.factor_blocks and block > self.embed_dim:
            raise ConfigError(
                f"the factor blocks of factors={','.join(self.factors)} (levels {self.factor_level_counts()}) = "
                f"{block} dimensions exceeds embed_dim={self.embed_dim}: raise embed_dim or lower factor_levels"
            )
        if recipe.label_smoothing and (not loss.label_smoothing or getattr(self.loss_options, "bce", False)):
            smoothing = [name for name, entry in LOSSES.items() if entry.label_smoothing]
            raise ConfigError(
                f"label_smoothing applies to loss={' or '.join(smoothing)} (its cross-entropy term), without bce"
            )
        if len(self.novel_classes) == 1 or len(set(self.novel_classes)) < len(self.novel_classes):
            raise ConfigError(
                f"novel_classes={','.join(self.novel_classes)!r}: hold out at least 2 distinct classes "
                "(the few-shot and collapse measures compare novel classes with each other)"
            )
        if self.validation != "none" and self.novel_classes:
            raise ConfigError("validation holds out a speaker and novel_classes holds out classes: use one")
        if self.crop == "start" and recipe.mixup > 0:
            raise ConfigError(
                "crop=start trains on the start of each clip, but mixup crops waveforms at random: use one"
            )
        if recipe.mixup > 0 and not loss.soft_labels:
            raise ConfigError(f"loss={self.loss} compares hard labels and cannot be combined with mixup")
        if self.backbone == "ge2e":
            if self.num_mel_bins != GE2E_MEL_BINS:
                raise ConfigError(
                    f"backbone=ge2e reads the {GE2E_MEL_BINS} mel bands its encoder was trained on; set "
                    f"num_mel_bins={GE2E_MEL_BINS}, got {self.num_mel_bins}"
                )
            if recipe.mixup > 0:
                raise ConfigError("mixup recomputes Kaldi fbank features; backbone=ge2e reads its own front end")
            if self.backbone_options.freeze and self.loss != "ce":
                raise ConfigError(
                    "backbone_options.freeze=true is the linear probe: the encoder's embedding is fixed, so a "
                    f"pull cannot move it; use loss=ce, got loss={self.loss}"
                )

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """Build from flat values, as sweep files, command lines and stored summaries write them:
        each option goes to the part that owns it. Unknown keys are refused (with the valid ones);
        another loss's option is checked and left out (``_unread``).

        >>> RunConfig.from_dict({"loss": "prototypes", "lam": 10, "epochs": 3}).loss_options.lam
        10.0
        >>> RunConfig.from_dict({"loss": "ce", "lam": 10}).run_id() == RunConfig(loss="ce").run_id()
        True
        >>> RunConfig.from_dict({"loss": "focal", "bce": True})
        Traceback (most recent call last):
            ...
        predefined_prototypes.run.config.ConfigError: bce is an option of loss=ce, prototypes, learned_prototypes or factor_prototypes, not of loss=focal
        """
        run_fields = [f.name for f in dataclasses.fields(cls) if f.name not in PARTS]
        recipe_fields = [f.name for f in dataclasses.fields(Recipe)]
        options = loss_options()
        names = [*run_fields, *recipe_fields, *options, *OWN_NAMES, "backbone_options"]
        unknown = sorted(set(values) - set(names))
        renamed = [f"{key} is now {RENAMED[key]}" for key in unknown if key in RENAMED]
        if renamed:
            raise ConfigError("; ".join(renamed))
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}")
        hints = type_hints(cls)
        run = {k: _checked(lambda k=k: coerce(hints[k], k, values[k])) for k in run_fields if k in values}
        loss = run.get("loss", "prototypes")
        if loss not in LOSSES:
            raise ConfigError(f"loss={loss!r} is not valid; valid values: {', '.join(LOSSES)}")
        backbone = run.get("backbone", "cnn")
        if backbone not in BACKBONES:
            raise ConfigError(f"backbone={backbone!r} is not valid; valid values: {', '.join(BACKBONES)}")
        own = set(LOSSES[loss].option_names())
        for key in set(values) & set(options) - own:
            _unread(key, values[key], options[key], loss)
        return cls(
            **run,
            recipe=_checked(lambda: build_options(Recipe, {k: values[k] for k in recipe_fields if k in values})),
            loss_options=_checked(
                lambda: build_options(LOSSES[loss].options, {k: values[k] for k in own if k in values}),
                f"loss={loss}",
            ),
            backbone_options=_checked(lambda: backbone_options(backbone, values)),
        )

    @classmethod
    def from_summary(cls, record: dict) -> RunConfig:
        """The configuration a stored summary (a run's metrics.json) records: the one place a
        stored run's configuration is rebuilt.

        >>> RunConfig.from_summary({"config": RunConfig(loss="ce").to_dict()}) == RunConfig(loss="ce")
        True
        """
        return cls.from_dict(record["config"])

    @classmethod
    def from_args(cls, args: list[str]) -> RunConfig:
        """Build from ``key=value`` strings, as the command line gives them. A mapping field's
        entries are written with dots, as OmegaConf and Hydra write them
        (``dataset_options.classes=4``), and parsed by OmegaConf's dotlist; every value then
        meets the same typed checks.

        >>> RunConfig.from_args(["dataset=emodb", "dataset_options.classes=4"]).dataset_options
        {'classes': 4}
        """
        values, dotted = {}, {}
        for arg in args:
            key, sep, value = arg.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"expected key=value, got {arg!r}")
            if key in values or key in dotted:
                raise ConfigError(f"{key} is given twice; keep one")
            (dotted if "." in key else values)[key] = value.strip()
        if dotted:
            values.update(_dotted(dotted, values))
        return cls.from_dict(values)

    def factor_level_counts(self) -> list[int]:
        """The levels of each factor, in ``factors`` order: ``factor_levels`` for an acoustic
        factor, as many as its labels for a labelled one.

        >>> RunConfig(dataset="ravdess", factors="loudness,intensity", factor_levels=4).factor_level_counts()
        [4, 2]
        """
        labelled = labelled_factors(self.dataset)
        return [len(labelled[f]) if f in labelled else self.factor_levels for f in self.factors]

    def factor_layout(self):
        """The factor prototypes' blocks this run pulls towards (``FactorPrototypes``; imports torch).

        >>> RunConfig(loss="factor_prototypes", dataset="emodb").factor_layout().blocks
        [slice(0, 6, None), slice(6, 12, None), slice(12, 18, None)]
        """
        from ..method.prototypes import FactorPrototypes

        return FactorPrototypes(self.factor_level_counts(), self.embed_dim, self.loss_options.scale)

    @property
    def measures_factors(self) -> bool:
        """Whether the run measures the factors (and keeps only utterances valid for them)."""
        return LOSSES[self.loss].factor_blocks or self.probe_factors

    def to_dict(self) -> dict:
        """Every option flat, lists for tuples: what metrics.json records and a notebook parameter
        carries. Every loss's options appear, at their default where this run's loss has none, so
        that every results table has one column per option."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in PARTS}
        values |= {name: next(iter(by_loss.values())) for name, by_loss in loss_options().items()}
        values |= flat(self.loss_options) | flat(self.recipe) | stored_options(self.backbone, self.backbone_options)
        return {
            k: list(v) if isinstance(v, tuple) else copy.deepcopy(v) if isinstance(v, dict) else v
            for k, v in values.items()
        }

    def identity(self) -> dict:
        """The options that determine a run's numbers, which its id hashes: those the run reads
        (its own loss's options, not another's) and whose value is not the default. An option
        added with a default therefore changes no stored run's id.

        >>> RunConfig(loss="ce", recipe={"epochs": 3}).identity()
        {'loss': 'ce', 'epochs': 3}
        >>> RunConfig.from_dict({"loss": "ce", "scale": 1}).identity() == RunConfig(loss="ce").identity()
        True
        >>> RunConfig.from_dict({"scale": 10, "out": "runs/x", "data_dir": "/data/fsdd", "device": "cpu"}).identity()
        {'scale': 10.0}
        >>> RunConfig(dataset="emodb", dataset_options={"classes": 4}).identity()
        {'dataset': 'emodb', 'classes': 4}
        """
        ignored = (
            set(NOT_IDENTIFYING) | {"dataset_options"} | (set(loss_options()) - set(LOSSES[self.loss].option_names()))
        )
        ignored |= set() if self.measures_factors else set(FACTOR_OPTIONS)
        defaults = _defaults(type(self), tuple(LOSSES.items()))
        fields = {k: v for k, v in self.to_dict().items() if k not in ignored and v != defaults[k]}
        return fields | self.dataset_options  # already without the options at their default

    @property
    def front_end(self) -> str:
        """The features the backbone reads (``features.FRONT_ENDS``)."""
        return BACKBONES[self.backbone].front_end

    def digest(self) -> str:
        """The SHA-256 of ``identity()``: what a model file's header records (``config_sha256``).

        >>> RunConfig(loss="ce").digest().startswith(RunConfig(loss="ce").run_id())
        True
        """
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()

    def run_id(self) -> str:
        """The run's id: ``digest()``'s first 12 hex digits, the same on every machine.

        >>> RunConfig(loss="ce", seed=3).run_id() != RunConfig(loss="ce").run_id()
        True
        """
        return self.digest()[:12]


def _checked(make, where: str = ""):
    """``make()``, its ValueError turned into a ConfigError (prefixed by ``where``)."""
    try:
        return make()
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(f"{where}: {err}" if where else str(err)) from None


def _part(where: str, cls: type, value):
    """A part's options: its defaults for None, checked by ``cls`` for a mapping, or an instance."""
    if value is None:
        return cls()
    if isinstance(value, dict):
        return _checked(lambda: build_options(cls, value), where)
    if not isinstance(value, cls):
        raise ConfigError(f"{where} takes {cls.__name__} or a mapping of its options, got {value!r}")
    return value


def _unread(key: str, value, defaults: dict, loss: str) -> None:
    """Another loss's option, checked as its owner checks it and then left out: one grid can vary
    ``scale`` beside cross-entropy, which is then one run, trained once. A switch turned on for a
    loss that has none is refused: no grid needs it, and the run would silently ignore it."""
    owner = next(iter(defaults))
    hint = type_hints(LOSSES[owner].options)[key]
    value = _checked(lambda: typed(hint, key, coerce(hint, key, value)))
    _checked(lambda: build_options(LOSSES[owner].options, {key: value}), f"{key} (an option of loss={owner})")
    if isinstance(value, bool) and value != defaults[owner]:
        raise ConfigError(f"{key} is an option of loss={_owners(defaults)}, not of loss={loss}")


def _owners(defaults: dict) -> str:
    names = list(defaults)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _dotted(items: dict[str, str], flat: dict) -> dict:
    """``a.b=v`` overrides as nested mappings (OmegaConf's dotlist, which types ``v`` as YAML does),
    each under a mapping field of RunConfig: ConfigError naming any other."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    mappings = ("dataset_options", "backbone_options", "extra")
    for key in items:
        head = key.partition(".")[0]
        if head not in mappings:
            raise ConfigError(f"{key}: only mapping fields take dotted keys ({', '.join(mappings)})")
        if head in flat:
            raise ConfigError(f"{head} is given both whole and by dotted keys; use one")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist([f"{k}={v}" for k, v in items.items()]))
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot read {', '.join(items)}: {str(err).splitlines()[0]}") from None


@functools.cache
def _defaults(cls: type, losses: tuple) -> dict:
    """What identity() compares with: an option at its default stays out of the run id (kept per
    registry of losses, which a loss registered later extends)."""
    return cls().to_dict()
