"""The configuration of one run: every knob in one dataclass, validated at construction.

Validation needs neither torch nor the data, so a typo fails in well under a second.

>>> RunConfig(loss="ce", epochs=2).loss
'ce'
>>> RunConfig.from_args(["loss=focal", "focal_gamma=1", "factors=pitch_median,loudness"]).factors
('pitch_median', 'loudness')
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field

from ..data import DATASETS, check_options, labelled_factors
from ..method.registry import FACTOR_LEVELS, FACTOR_NAMES, FACTOR_OPTIONS, LOSSES, PROTOTYPE_KINDS, loss_options

# Backbones by name: the "module:builder" that makes each (``models.py``'s; resolved only when a
# model is built, so that a configuration is checked without torch).
BACKBONES = {
    "cnn": ".models:build_cnn",
    "ecapa": ".models:build_ecapa",
    "ast": ".models:build_ast",
    "beats": ".models:build_beats",
    "ge2e": ".models:build_ge2e",
}
# A backbone that reads other features than the Kaldi fbank names its front end (``features.FRONT_ENDS``).
FRONT_END_OF = {"ge2e": "ge2e"}
# Each backbone's own options (``backbone_options``), with their types; AST takes any ASTConfig key.
BACKBONE_OPTIONS = {
    "beats": {"code": str},
    # freeze: the encoder is not trained and z is its own embedding (a linear probe);
    # encoder_lr: the pretrained weights' learning rate (lr is the new head's)
    "ge2e": {"freeze": bool, "encoder_lr": float},
}
GE2E_MEL_BINS = 40  # the mel bands the GE2E encoder was trained on
PROTOTYPES = tuple(PROTOTYPE_KINDS)
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "step")
DEVICES = ("auto", "cpu", "cuda")
ON_ERROR = ("raise", "skip")
CROPS = ("random", "start")
VALIDATION = ("none", "next_speaker")
MAX_MEL_BINS = 256
MIN_CLIP_SECONDS, MAX_CLIP_SECONDS = 0.025, 30.0  # the longest clip of any dataset here: 9 s (EmoDB)
# Bounds that keep a typo from asking for hundreds of gigabytes or centuries of training: each is
# far above what any sweep here or in the paper uses (ECAPA's 512 channels is channels=32).
MAX_SIZES = {"embed_dim": 4096, "channels": 256, "batch_size": 4096, "epochs": 10_000, "eval_every": 10_000}
MAX_SEED = 2**32 - 1  # numpy's seeds

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
    # model
    backbone: str = "cnn"
    embed_dim: int = 32
    channels: int = 8  # CNN: width of the first block (doubled per block); ECAPA: 16 x this
    pretrained: str | None = None  # AST: a model id or path to load weights from
    backbone_options: dict = field(default_factory=dict)  # AST: ASTConfig overrides (a tiny model for tests)
    # loss
    loss: str = "prototypes"
    prototypes: str = "orthogonal"
    scale: float = 1.0
    lam: float = 1.0
    focal_gamma: float = 2.0
    opl_gamma: float = 2.0
    opl_weight: float = 0.1
    bce: bool = False  # binary cross-entropy on sigmoid outputs in place of CE (the authors', under mixup)
    label_smoothing: float = 0.0  # CE against (1 - e) one-hot + e / classes (loss=ce)
    factors: tuple[str, ...] = FACTOR_NAMES  # acoustic (measured), or labelled by the dataset
    factor_levels: int = FACTOR_LEVELS  # per acoustic factor; a labelled factor has its labels' levels
    # The authors' validity filter on the acoustic factors (median pitch in 85-275 Hz, loudness in
    # -50-0 LUFS); false keeps every clip whose factors can be measured, levels still cut at the
    # training speakers' quantiles.
    factor_filter: bool = True
    # Measure the factors for a loss that does not train on them (a reference for the factor
    # prototypes): the same utterances are kept, and the same probes and edits are reported.
    probe_factors: bool = False
    # training
    mixup: float = 0.0  # probability that a batch is mixed (waveform mixup, Beta(10, 10))
    specaugment: bool = False
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    betas: tuple[float, ...] = (0.9, 0.999)  # Adam's; the authors use (0.95, 0.999) for AST
    warmup: int = 1  # epochs of linear warm-up; then the schedule
    schedule: str = "cosine"  # cosine decay to 0, or "step": x lr_decay per epoch after warm-up (the authors')
    lr_decay: float = 0.85
    seed: int = 0
    device: str = "auto"
    bf16: bool = False  # training forward passes under bfloat16 autocast (GPU speed); losses and evaluation in float32
    # The CNN's weights in channels-last memory format, so every activation stays channels-last:
    # faster steps on CPU (benchmarks/batched_runs.csv); other kernels, so other float sums.
    channels_last: bool = False
    fail_at_chance: bool = True  # a run whose training accuracy ends at chance fails (not a result)
    eval_every: int = 1  # test accuracy in the history every this many epochs (and at the last)
    novel_classes: tuple[str, ...] = ()  # class names held out of training, for few-shot evaluation
    out: str | None = None
    extra: dict = field(default_factory=dict, repr=False)  # free-form notes (e.g. sweep name)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _check_type(type(self), f.name, getattr(self, f.name)))
        choices = {
            "dataset": tuple(DATASETS),  # read live: a dataset registered after import counts
            "backbone": tuple(BACKBONES),
            "loss": tuple(LOSSES),
            "prototypes": PROTOTYPES,
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "device": DEVICES,
            "on_error": ON_ERROR,
            "crop": CROPS,
            "validation": VALIDATION,
        }
        for key, valid in choices.items():
            if getattr(self, key) not in valid:
                raise ConfigError(f"{key}={getattr(self, key)!r} is not valid; valid values: {', '.join(valid)}")
        if unknown := sorted(set(LOSSES[self.loss].reads) - {f.name for f in dataclasses.fields(self)}):
            raise ConfigError(
                f"loss {self.loss} declares it reads {', '.join(unknown)}, which RunConfig has no field for"
            )
        if isinstance(self.betas, str):
            self.betas = tuple(b for b in self.betas.split(",") if b)
        try:
            self.betas = tuple(float(b) for b in self.betas)
        except ValueError:
            raise ConfigError(f"betas must be two numbers in [0, 1), e.g. 0.95,0.999; got {self.betas!r}") from None
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), e.g. 0.95,0.999; got {self.betas!r}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay is a factor per epoch in (0, 1], got {self.lr_decay}")
        if self.backbone_options and self.backbone not in ("ast", *BACKBONE_OPTIONS):
            raise ConfigError(
                "backbone_options apply to backbone=ast (ASTConfig overrides), beats ({code: folder}) or ge2e "
                "({freeze: true|false, encoder_lr: <number>})"
            )
        for key, value in self.backbone_options.items() if self.backbone in BACKBONE_OPTIONS else ():
            kind = BACKBONE_OPTIONS[self.backbone].get(key)
            if kind is None:
                raise ConfigError(
                    f"backbone_options.{key} is not an option of backbone={self.backbone}; its options: "
                    f"{', '.join(BACKBONE_OPTIONS[self.backbone])}"
                )
            number = isinstance(value, int | float) and not isinstance(value, bool)
            fits = {bool: isinstance(value, bool), float: number and value > 0}.get(kind, isinstance(value, kind))
            if not fits:
                wanted = {bool: "true or false", float: "a number > 0"}.get(kind, f"a {kind.__name__}")
                raise ConfigError(f"backbone_options.{key} must be {wanted}, got {value!r}")
        if self.backbone == "ge2e":
            if self.num_mel_bins != GE2E_MEL_BINS:
                raise ConfigError(
                    f"backbone=ge2e reads the {GE2E_MEL_BINS} mel bands its encoder was trained on; set "
                    f"num_mel_bins={GE2E_MEL_BINS}, got {self.num_mel_bins}"
                )
            if self.mixup > 0:
                raise ConfigError("mixup recomputes Kaldi fbank features; backbone=ge2e reads its own front end")
            if self.backbone_options.get("freeze") and self.loss != "ce":
                raise ConfigError(
                    "backbone_options.freeze=true is the linear probe: the encoder's embedding is fixed, so a "
                    f"pull cannot move it; use loss=ce, got loss={self.loss}"
                )
        if isinstance(self.novel_classes, str):
            self.novel_classes = tuple(c for c in self.novel_classes.split(",") if c)
        self.novel_classes = tuple(str(c) for c in self.novel_classes)
        if self.novel_classes and LOSSES[self.loss].factor_blocks:
            raise ConfigError(
                "novel_classes holds classes out for few-shot evaluation; factor_prototypes does not use it"
            )
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
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED} (2^32 - 1), got {self.seed}")
        for key, most in MAX_SIZES.items():
            if getattr(self, key) > most:
                raise ConfigError(f"{key} must be at most {most}, got {getattr(self, key)}")
        for key in ("extra", "backbone_options", "dataset_options"):
            try:
                json.dumps(getattr(self, key))
            except (TypeError, ValueError) as err:
                raise ConfigError(
                    f"{key} must hold plain values (text, numbers, true/false, lists, mappings): {err}; "
                    "quote dates and other values YAML reads as objects"
                ) from None
        positive = ("embed_dim", "channels", "epochs", "batch_size", "num_mel_bins", "eval_every")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("lr", "scale"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)}")
        for key in ("lam", "focal_gamma", "opl_gamma", "opl_weight", "weight_decay", "warmup"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.clip_seconds is not None and not self.clip_seconds > 0:
            raise ConfigError(f"clip_seconds must be > 0 (or none for the dataset's default), got {self.clip_seconds}")
        if self.clip_seconds is not None and not MIN_CLIP_SECONDS <= self.clip_seconds <= MAX_CLIP_SECONDS:
            raise ConfigError(
                f"clip_seconds must be between {MIN_CLIP_SECONDS} (one 25 ms analysis window) and "
                f"{MAX_CLIP_SECONDS}, got {self.clip_seconds}"
            )
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing is a probability in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and (not LOSSES[self.loss].label_smoothing or self.bce):
            smoothing = [name for name, loss in LOSSES.items() if loss.label_smoothing]
            raise ConfigError(
                f"label_smoothing applies to loss={' or '.join(smoothing)} (its cross-entropy term), without bce"
            )
        if not 0 <= self.mixup <= 1:
            raise ConfigError(f"mixup is a probability in [0, 1], got {self.mixup}")
        if not 2 <= self.factor_levels <= 8:
            raise ConfigError(f"factor_levels must be between 2 and 8, got {self.factor_levels}")
        try:
            self.dataset_options = check_options(self.dataset, self.dataset_options)
        except ValueError as err:
            raise ConfigError(f"dataset_options: {err}") from None
        if self.measures_factors and not DATASETS[self.dataset].SPEECH_WITH_PITCH:
            what = "probe_factors" if not LOSSES[self.loss].factor_blocks else f"loss={self.loss}"
            speech = [name for name, module in DATASETS.items() if module.SPEECH_WITH_PITCH]
            raise ConfigError(f"{what} needs speech with pitch: dataset={' or '.join(speech)}")
        block = sum(self.factor_level_counts())
        if LOSSES[self.loss].factor_blocks and block > self.embed_dim:
            raise ConfigError(
                f"the factor blocks of factors={','.join(self.factors)} (levels {self.factor_level_counts()}) = "
                f"{block} dimensions exceeds embed_dim={self.embed_dim}: raise embed_dim or lower factor_levels"
            )
        if self.bce and not LOSSES[self.loss].cross_entropy:
            raise ConfigError(f"bce replaces the cross-entropy term, which loss={self.loss} does not have")
        if self.validation != "none" and self.novel_classes:
            raise ConfigError("validation holds out a speaker and novel_classes holds out classes: use one")
        if self.crop == "start" and self.mixup > 0:
            raise ConfigError(
                "crop=start trains on the start of each clip, but mixup crops waveforms at random: use one"
            )
        if self.mixup > 0 and not LOSSES[self.loss].soft_labels:
            raise ConfigError(f"loss={self.loss} compares hard labels and cannot be combined with mixup")

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """Build from a mapping, rejecting unknown keys (with the list of valid ones)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        renamed = [f"{key} is now {RENAMED[key]}" for key in unknown if key in RENAMED]
        if renamed:
            raise ConfigError("; ".join(renamed))
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
        return cls(**{k: _coerce(cls, k, v) for k, v in values.items()})

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

    @property
    def measures_factors(self) -> bool:
        """Whether the run measures the factors (and keeps only utterances valid for them)."""
        return LOSSES[self.loss].factor_blocks or self.probe_factors

    def to_dict(self) -> dict:
        """Every field, lists for tuples: what metrics.json records and a notebook parameter carries."""
        # Field by field, not dataclasses.asdict: its recursive deep copy was most of a plan's expansion.
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {
            k: list(v) if isinstance(v, tuple) else copy.deepcopy(v) if isinstance(v, dict) else v
            for k, v in values.items()
        }

    def identity(self) -> dict:
        """The fields that determine a run's numbers, which its id hashes: those the run reads
        (a loss's own options only for that loss, ``registry.LOSSES``) and whose value is not the
        default. A field added with a default therefore changes no stored run's id.

        >>> RunConfig(loss="ce", epochs=3).identity()
        {'loss': 'ce', 'epochs': 3}
        >>> RunConfig(loss="ce", scale=10).identity() == RunConfig(loss="ce").identity()
        True
        >>> RunConfig(scale=10, out="runs/x", data_dir="/data/fsdd", device="cpu").identity()
        {'scale': 10.0}
        >>> RunConfig(dataset="emodb", dataset_options={"classes": 4}).identity()
        {'dataset': 'emodb', 'classes': 4}
        """
        ignored = set(NOT_IDENTIFYING) | {"dataset_options"} | (loss_options() - set(LOSSES[self.loss].reads))
        if self.measures_factors:
            ignored -= set(FACTOR_OPTIONS)
        defaults = _defaults(type(self))
        fields = {k: v for k, v in self.to_dict().items() if k not in ignored and v != defaults[k]}
        return fields | self.dataset_options  # already without the options at their default

    @property
    def front_end(self) -> str:
        """The features the backbone reads (``features.FRONT_ENDS``): "fbank" unless it names another."""
        return FRONT_END_OF.get(self.backbone, "fbank")

    def digest(self) -> str:
        """The SHA-256 of ``identity()``: what a model file's header records (``config_sha256``).

        >>> RunConfig(loss="ce").digest().startswith(RunConfig(loss="ce").run_id())
        True
        """
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()

    def run_id(self) -> str:
        """The run's id: ``digest()``'s first 12 hex digits, the same on every machine.

        >>> RunConfig(loss="ce", scale=10).run_id() == RunConfig(loss="ce").run_id()
        True
        """
        return self.digest()[:12]


def _dotted(items: dict[str, str], flat: dict) -> dict:
    """``a.b=v`` overrides as nested mappings (OmegaConf's dotlist, which types ``v`` as YAML does),
    each under a mapping field of RunConfig: ConfigError naming any other."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    hints = _type_hints(RunConfig)
    mappings = [k for k, hint in hints.items() if hint is dict]
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


def _check_type(cls: type, key: str, value):
    """The field's value in its declared type, or a ConfigError naming the field: whole numbers
    for int fields (2.0 becomes 2, 1.5 is refused), numbers for float fields, true/false for
    bool fields. Fold ids are kept as text (YAML reads ``fold: 1`` as a number)."""
    hint = _type_hints(cls)[key]
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ConfigError(f"{key} may not be none")
    base = typing.get_origin(allowed[0]) or allowed[0]
    if base is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        if not float(value).is_integer():
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        return int(value)
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        return float(value)
    if base is bool and not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if base is str and not isinstance(value, str):
        if key == "fold" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key} must be text, got {value!r}")
    if base is tuple and not isinstance(value, (tuple, list, str)):
        raise ConfigError(f"{key} must be a list of names, got {value!r}")
    if base is dict and not isinstance(value, dict):
        raise ConfigError(f"{key} must be a mapping, got {value!r}")
    return value


def _coerce(cls, key: str, value):
    """Turn command-line text into the field's type (int, float, bool, None, tuple)."""
    if not isinstance(value, str):
        return value
    hint = _type_hints(cls)[key]
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if not value:  # an unset shell variable (fold=$FOLD) must not mean "the default"
        raise ConfigError(f"{key}= is empty; give a value ({key}=none for no value, where allowed)")
    if value.lower() in ("none", "null") and type(None) in allowed:
        return None
    base = next(t for t in allowed if t is not type(None))
    base = typing.get_origin(base) or base
    try:
        if base is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if base in (int, float):
            return base(value)
        if base is tuple:
            return tuple(v for v in value.split(",") if v)
        if base is dict:
            return json.loads(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a valid {base.__name__}") from None
    return value


@functools.cache
def _type_hints(cls: type) -> dict:
    """The fields' declared types, resolved once per class (resolving them is slow)."""
    return typing.get_type_hints(cls)


@functools.cache
def _defaults(cls: type) -> dict:
    """What identity() compares with: a field at its default stays out of the run id."""
    return cls().to_dict()
