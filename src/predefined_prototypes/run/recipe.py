"""A run's recipe: every training choice except the data, the model and the loss.

The Claim 1 comparisons give every loss the same menu of recipes, so a recipe is one thing a sweep
varies as a whole. Its options are named flat in sweep files and tables (``epochs=45``,
``specaugment=true``), like every other part's.

>>> Recipe(epochs=45, specaugment=True).epochs
45
>>> Recipe(mixup=1.5)
Traceback (most recent call last):
    ...
ValueError: mixup is a probability in [0, 1], got 1.5
"""

from __future__ import annotations

from dataclasses import dataclass

from ..method.options import at_least

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "step")
# Bounds that keep a typo from asking for centuries of training: far above what any sweep here or
# in the paper uses.
MAX_SIZES = {"batch_size": 4096, "epochs": 10_000, "eval_every": 10_000}


@dataclass(frozen=True)
class Recipe:
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"  # "adamw": decoupled weight decay
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, ...] = (0.9, 0.999)  # Adam's; the authors use (0.95, 0.999) for AST
    warmup: int = 1  # epochs of linear warm-up; then the schedule
    schedule: str = "cosine"  # cosine decay to 0, or "step": x lr_decay per epoch after warm-up (the authors')
    lr_decay: float = 0.85
    label_smoothing: float = 0.0  # CE against (1 - e) one-hot + e / classes (losses whose CE takes it)
    mixup: float = 0.0  # probability that a batch is mixed (waveform mixup, Beta(10, 10))
    specaugment: bool = False
    bf16: bool = False  # training forward passes under bfloat16 autocast; losses and evaluation in float32
    # The CNN's weights in channels-last memory format, so every activation stays channels-last:
    # faster steps on CPU (benchmarks/batched_runs.csv); other kernels, so other float sums.
    channels_last: bool = False
    eval_every: int = 1  # test accuracy in the history every this many epochs (and at the last)

    def __post_init__(self):
        if isinstance(self.betas, str):
            object.__setattr__(self, "betas", tuple(b for b in self.betas.split(",") if b))
        try:
            betas = tuple(float(b) for b in self.betas)
        except (TypeError, ValueError):
            betas = ()
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), e.g. 0.95,0.999; got {self.betas!r}")
        object.__setattr__(self, "betas", betas)
        for key, valid in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
            if getattr(self, key) not in valid:
                raise ValueError(f"{key}={getattr(self, key)!r} is not valid; valid values: {', '.join(valid)}")
        at_least(self, 1, "epochs", "batch_size", "eval_every")
        at_least(self, 0, "lr", strictly=True)
        at_least(self, 0, "weight_decay", "warmup")
        for key, most in MAX_SIZES.items():
            if getattr(self, key) > most:
                raise ValueError(f"{key} must be at most {most}, got {getattr(self, key)}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay is a factor per epoch in (0, 1], got {self.lr_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing is a probability in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.mixup <= 1:
            raise ValueError(f"mixup is a probability in [0, 1], got {self.mixup}")
