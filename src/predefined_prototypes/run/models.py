"""Backbones F: features [B, T, mel] -> z [B, k], and the model (F, then a linear classifier G).

Every backbone ends with a plain linear projection, so z can take any sign and reach any
prototype (no ReLU or normalisation after it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..method.registry import resolve
from .backbones import BACKBONES


class CNN(nn.Module):
    """A small 2-D CNN for CPU training: four blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool)
    of widths c, 2c, 4c, 8c, global average pooling, then a linear projection to z.

    >>> CNN(num_mel_bins=64, embed_dim=32, channels=8)(torch.randn(2, 98, 64)).shape
    torch.Size([2, 32])
    """

    def __init__(self, num_mel_bins: int, embed_dim: int, channels: int = 16):
        super().__init__()
        layers, width_in = [], 1
        for i in range(4):
            width = channels * 2**i
            layers += [
                nn.Conv2d(width_in, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width_in = width
        self.blocks = nn.Sequential(*layers)
        self.project = nn.Linear(width_in, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        # Channels-last is ~20 % faster for these convolutions on CPU.
        x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        return self.project(self.blocks(x).mean(dim=(2, 3)))


class _TDNN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 1, dilation: int = 1):
        super().__init__(
            nn.Conv1d(c_in, c_out, kernel, dilation=dilation, padding=dilation * (kernel // 2)),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(c_out),
        )


class _Res2(nn.Module):
    """Res2Net convolution: channel groups processed in a chain, each seeing the previous one."""

    def __init__(self, channels: int, kernel: int, dilation: int, scale: int = 8):
        super().__init__()
        self.scale = scale
        width = channels // scale
        self.convs = nn.ModuleList(_TDNN(width, width, kernel, dilation) for _ in range(scale - 1))

    def forward(self, x: Tensor) -> Tensor:
        groups = torch.chunk(x, self.scale, dim=1)
        out, previous = [groups[0]], None
        for conv, group in zip(self.convs, groups[1:]):
            previous = conv(group if previous is None else group + previous)
            out.append(previous)
        return torch.cat(out, dim=1)


class _SERes2Block(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            _TDNN(channels, channels), _Res2(channels, kernel, dilation), _TDNN(channels, channels)
        )
        self.excite = nn.Sequential(
            nn.Linear(channels, 128), nn.ReLU(inplace=True), nn.Linear(128, channels), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y * self.excite(y.mean(dim=2)).unsqueeze(2)


class ECAPA(nn.Module):
    """ECAPA-TDNN (Desplanques et al., Interspeech 2020): SE-Res2Net blocks with dilations 2, 3, 4,
    multi-layer feature aggregation, attentive statistics pooling with global context, and a
    linear projection to z (k = 192 in the paper).

    >>> ECAPA(num_mel_bins=40, embed_dim=192, channels=64)(torch.randn(2, 50, 40)).shape
    torch.Size([2, 192])
    """

    def __init__(self, num_mel_bins: int, embed_dim: int = 192, channels: int = 512):
        super().__init__()
        if channels % 8:
            raise ValueError(f"ECAPA channels must be a multiple of 8 (Res2Net scale), got {channels}")
        self.stem = _TDNN(num_mel_bins, channels, kernel=5)
        self.blocks = nn.ModuleList(_SERes2Block(channels, 3, d) for d in (2, 3, 4))
        aggregated = 3 * channels
        self.aggregate = nn.Sequential(nn.Conv1d(aggregated, aggregated, 1), nn.ReLU(inplace=True))
        self.attention = nn.Sequential(
            nn.Conv1d(3 * aggregated, 128, 1),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(128),
            nn.Tanh(),
            nn.Conv1d(128, aggregated, 1),
        )
        self.pool_norm = nn.BatchNorm1d(2 * aggregated)
        self.project = nn.Linear(2 * aggregated, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x.transpose(1, 2))
        outputs = []
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        h = self.aggregate(torch.cat(outputs, dim=1))
        frames = h.shape[2]
        mean = h.mean(dim=2, keepdim=True).expand(-1, -1, frames)
        std = h.std(dim=2, keepdim=True).clamp(min=1e-5).expand(-1, -1, frames)
        weights = torch.softmax(self.attention(torch.cat([h, mean, std], dim=1)), dim=2)
        mu = (weights * h).sum(dim=2)
        sigma = ((weights * h * h).sum(dim=2) - mu * mu).clamp(min=1e-5).sqrt()
        return self.project(self.pool_norm(torch.cat([mu, sigma], dim=1)))


class AST(nn.Module):
    """Audio Spectrogram Transformer from ``transformers``; z is the mean of the [CLS] and
    distillation tokens, as in the authors' code, projected to ``embed_dim`` when that differs
    from the transformer's width.

    ``pretrained``: a model id or local path (e.g. ``MIT/ast-finetuned-audioset-10-10-0.4593``)
    for users with the weights; otherwise a randomly initialised model from ``config`` overrides.

    >>> tiny = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    >>> AST(num_mel_bins=64, num_frames=100, embed_dim=32, config=tiny)(torch.randn(2, 100, 64)).shape
    torch.Size([2, 32])
    """

    def __init__(
        self,
        num_mel_bins: int,
        num_frames: int,
        embed_dim: int,
        pretrained: str | None = None,
        config: dict | None = None,
    ):
        super().__init__()
        from transformers import ASTConfig, ASTModel

        shape = {"num_mel_bins": num_mel_bins, "max_length": num_frames}
        if pretrained:
            # Position embeddings are sized for the pretraining input (1024 frames, 128 mels):
            # other shapes cannot reuse them, so ask for that shape explicitly.
            try:
                self.transformer = ASTModel.from_pretrained(pretrained, **shape, **(config or {}))
            except OSError as err:
                from huggingface_hub.constants import HF_HUB_CACHE

                raise OSError(
                    f"cannot load AST weights {pretrained!r} (not a local save_pretrained folder, and not in the "
                    f"Hugging Face cache {HF_HUB_CACHE} with no network to fetch it): on a machine with network run "
                    f"`huggingface-cli download {pretrained}` (or save_pretrained it into a folder) and pass that "
                    f"folder as pretrained=; reason: {str(err).splitlines()[0]}"
                ) from None
        else:
            self.transformer = ASTModel(ASTConfig(**shape, **(config or {})))
        width = self.transformer.config.hidden_size
        self.project = nn.Identity() if width == embed_dim else nn.Linear(width, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.transformer(input_values=x).last_hidden_state
        return self.project((tokens[:, 0] + tokens[:, 1]) / 2)


class BEATs(nn.Module):
    """Microsoft's BEATs, from the reader's clone of its official code (``code``: the folder holding
    BEATs.py) and checkpoint (a .pt file with ``cfg`` and ``model``), fine-tuned end to end; z is
    the mean over time of its last layer (k = 768), projected to ``embed_dim`` when that differs.

    This package's features go in where BEATs would compute its own: the same Kaldi fbank (128 mel
    bins, 25/10 ms), normalised with the training split's statistics rather than AudioSet's.
    """

    def __init__(self, code: str, checkpoint: str, embed_dim: int):
        super().__init__()
        import importlib
        import sys

        sys.path.insert(0, str(code))  # BEATs.py imports its sibling modules by name
        try:
            sys.modules.pop("BEATs", None)  # this folder's code, not one imported earlier
            official = importlib.import_module("BEATs")
        finally:
            sys.path.remove(str(code))
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        config = official.BEATsConfig(state["cfg"])
        self.model = official.BEATs(config)
        self.model.load_state_dict(state["model"])
        self.model.preprocess = lambda source, **kwargs: source  # features, not waveforms, come in
        width = config.encoder_embed_dim
        self.project = nn.Identity() if width == embed_dim else nn.Linear(width, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        frames, _ = self.model.extract_features(x)
        return self.project(frames.mean(dim=1))


# The GE2E weights that ship inside resemblyzer 0.1.4's wheel (resemblyzer/pretrained.pt; Apache-2.0):
# a file with another digest is not the encoder this package was checked against.
GE2E_PACKAGE = "resemblyzer"
GE2E_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"


def ge2e_weights() -> dict[str, Tensor]:
    """The GE2E encoder's state dict (``lstm.*``, ``linear.*``), read from the installed package's
    weights file without importing the package (whose module needs webrtcvad and librosa)."""
    import hashlib
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(GE2E_PACKAGE)
    path = Path(spec.origin).parent / "pretrained.pt" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise ImportError(
            f"backbone=ge2e reads the GE2E weights that ship in the {GE2E_PACKAGE} wheel, which is not installed: "
            "pip install 'predefined-prototypes[pretrained]'"
        )
    if hashlib.sha256(path.read_bytes()).hexdigest() != GE2E_SHA256:
        raise ImportError(f"{path} is not the GE2E weights of {GE2E_PACKAGE} 0.1.4 (another SHA-256); install 0.1.4")
    state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
    return {k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}


def random_windows(x: Tensor, frames: int) -> Tensor:
    """A window of ``frames`` consecutive frames of each sequence of ``x`` [B, T, F], each at its own
    random start (torch's seeded generator).

    >>> random_windows(torch.arange(10.0).reshape(1, 10, 1), 4).flatten().diff().tolist()
    [1.0, 1.0, 1.0]
    """
    starts = torch.randint(0, x.shape[1] - frames + 1, (x.shape[0], 1), device=x.device)
    return x[torch.arange(x.shape[0], device=x.device)[:, None], starts + torch.arange(frames, device=x.device)]


class GE2E(nn.Module):
    """The GE2E speaker encoder (Wan et al., ICASSP 2018) as resemblyzer ships it: a 3-layer LSTM of
    256 units over 40 mel power bands and a 256-d projection of the last layer's final state,
    pretrained for speaker verification. z is that projection, before the ReLU and L2 norm the
    package applies (so z can take any sign and reach any prototype), projected to ``embed_dim``
    when that differs from 256. With ``freeze`` the encoder is fixed and z is the package's own
    embedding (ReLU, L2 norm): a linear probe of what the encoder already knows. ``encoder_lr``
    is the pretrained weights' learning rate (``parameter_groups``). With ``partial_frames`` a
    training step reads a random window of that many frames of each clip (the encoder's own
    training partials; the LSTM's cost is linear in frames); evaluation reads every frame.

    >>> GE2E(embed_dim=256, weights=None)(torch.rand(2, 160, 40)).shape
    torch.Size([2, 256])
    """

    def __init__(
        self,
        embed_dim: int = 256,
        freeze: bool = False,
        encoder_lr: float | None = None,
        weights="shipped",
        partial_frames: int = 0,
    ):
        super().__init__()
        self.partial_frames = partial_frames
        self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        if weights is not None:
            self.load_state_dict(ge2e_weights() if weights == "shipped" else weights, strict=False)
        self.freeze, self.encoder_lr = freeze, encoder_lr
        if freeze:
            self.requires_grad_(False)
        self.project = nn.Identity() if embed_dim == 256 else nn.Linear(256, embed_dim)

    def embed(self, x: Tensor) -> Tensor:
        """The package's utterance embedding of mel frames [B, T, 40]: ReLU of the projection, L2-normalised."""
        return nn.functional.normalize(torch.relu(self.encode(x)), dim=1)

    def encode(self, x: Tensor) -> Tensor:
        _, (hidden, _) = self.lstm(x)
        return self.linear(hidden[-1])

    def forward(self, x: Tensor) -> Tensor:
        if self.training and 0 < self.partial_frames < x.shape[1]:
            x = random_windows(x, self.partial_frames)
        if self.freeze:
            with torch.no_grad():
                return self.project(self.embed(x))
        return self.project(self.encode(x))

    def parameter_groups(self, lr: float) -> list[dict]:
        """The optimiser's groups: the pretrained LSTM and projection at ``encoder_lr`` (default
        ``lr``), a new projection at ``lr``; frozen weights in none."""
        pretrained = [p for p in [*self.lstm.parameters(), *self.linear.parameters()] if p.requires_grad]
        new = list(self.project.parameters())
        groups = [(pretrained, self.encoder_lr or lr), (new, lr)]
        return [{"params": params, "lr": rate} for params, rate in groups if params]


# Each backbone's builder(num_mel_bins, num_frames, embed_dim, options), named in
# ``backbones.BACKBONES`` with its options class: a new backbone is one module returning [B, k],
# one builder, one options dataclass and one entry.
def build_cnn(mel, frames, k, options) -> nn.Module:
    return CNN(mel, k, options.channels)


def build_ecapa(mel, frames, k, options) -> nn.Module:
    return ECAPA(mel, k, channels=options.channels * 16)


def build_ast(mel, frames, k, options) -> nn.Module:
    return AST(mel, frames, k, options.pretrained, options.config)


def build_beats(mel, frames, k, options) -> nn.Module:
    return BEATs(options.code, options.pretrained, k)


def build_ge2e(mel, frames, k, options) -> nn.Module:
    return GE2E(k, options.freeze, options.encoder_lr, partial_frames=options.partial_frames)


def build_backbone(name: str, num_mel_bins: int, num_frames: int, embed_dim: int, options=None) -> nn.Module:
    """The backbone called ``name`` (a key of ``backbones.BACKBONES``), with its ``options``
    (its options dataclass; None: its defaults).

    >>> from predefined_prototypes.run.backbones import CNNOptions
    >>> build_backbone("cnn", 40, 101, 32, CNNOptions(channels=4))(torch.randn(2, 101, 40)).shape
    torch.Size([2, 32])
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")
    entry = BACKBONES[name]
    return resolve(entry.builder, __package__)(num_mel_bins, num_frames, embed_dim, options or entry.options())


class Model(nn.Module):
    """Backbone F then linear classifier G; returns (logits [B, C], z [B, k]).

    >>> model = Model(CNN(64, 16, channels=4), embed_dim=16, num_classes=10)
    >>> logits, z = model(torch.randn(3, 50, 64))
    >>> logits.shape, z.shape
    (torch.Size([3, 10]), torch.Size([3, 16]))
    """

    def __init__(self, backbone: nn.Module, embed_dim: int, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(embed_dim, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.backbone(x)
        return self.classifier(z), z
