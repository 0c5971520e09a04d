"""The case study's readings of stored factor runs that need their embeddings and the model's
classifier: each clip's margin split into one term per block, averaged per predicted emotion, and
one utterance, chosen by a fixed rule, with its margin split into blocks for the clip and each of
its edits. (The tables of probes and edits read only the results tables: ``factor_tables.py``.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from IPython.display import HTML, Audio, display

from ..data import dataset_root, emodb
from ..data.audio import SAMPLE_RATE, read_audio
from ..run.config import RunConfig
from ..run.interventions import apply_edit
from ..run.metrics import contrast_contributions, factor_contributions
from ..run.schema import EDITS
from ..storage.results import load_stored_run
from .factor_tables import LABELS
from .figures import edit_explanations, show


def contrast_terms(record: dict, emb: dict, z: np.ndarray | None = None, pair=None) -> tuple[np.ndarray, np.ndarray]:
    """Each clip's margin of its predicted class over the runner-up (or over the classes in
    ``pair``), split exactly into one term per factor block, the residual block and the bias
    ([N, F + 2], ``metrics.contrast_contributions``), with the block layout rebuilt from the
    run's configuration; and the logits those terms come from. ``z`` defaults to the stored
    test embeddings (pass an edit's, ``emb["edit_<name>_z"]``, to explain the edited clips)."""
    config = RunConfig.from_summary(record)
    layout = config.factor_layout()
    z = torch.from_numpy((emb["z"] if z is None else z).astype(np.float32))
    weight = torch.from_numpy(emb["classifier_weight"])
    bias = torch.from_numpy(emb["classifier_bias"])
    parts = factor_contributions(weight, z, layout.blocks, layout.residual)
    # The stored logits are float16: recompute them from the same parts so the terms add up exactly.
    logits = parts.sum(dim=1) + bias
    terms, _ = contrast_contributions(parts, bias, logits, pair)
    return terms.numpy(), logits.numpy()


def contrast_by_emotion(sweep: str, runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Mean contribution of each block (and the bias) to the margin of the predicted emotion over the
    runner-up, for the test clips predicted as each emotion: averaged within each run, then over
    seeds within a fold; returns the mean and the std over folds ([F + 2, C] each) and the
    classes. A run with no clip predicted as an emotion leaves that cell out of its fold."""
    rows = []
    for _, row in runs.iterrows():
        record, emb = load_stored_run(sweep, row["run_id"])
        terms, logits = contrast_terms(record, emb)
        predicted = logits.argmax(axis=1)
        classes = list(emb["classes"])
        for c in np.unique(predicted):
            for b, value in enumerate(terms[predicted == c].mean(axis=0)):
                rows.append({"fold": row["fold"], "block": b, "emotion": int(c), "value": float(value)})
    per_fold = pd.DataFrame(rows).groupby(["fold", "block", "emotion"])["value"].mean()
    summary = per_fold.groupby(["block", "emotion"]).agg(["mean", "std"])
    shape = (terms.shape[1], len(classes))
    index = pd.MultiIndex.from_product([range(shape[0]), range(shape[1])], names=["block", "emotion"])
    summary = summary.reindex(index)
    return summary["mean"].to_numpy().reshape(shape), summary["std"].to_numpy().reshape(shape), classes


def illustration(sweep: str, runs: pd.DataFrame) -> dict:
    """The case study's example, chosen by a rule fixed in advance: in the first run (by fold,
    then seed), the correctly predicted test clip with the widest margin. Its contrast terms for
    the original and each edit, all over the original's (predicted, runner-up) pair, and its
    measured factors before and after each edit."""
    row = runs.sort_values(["fold", "seed"]).iloc[0]
    record, emb = load_stored_run(sweep, row["run_id"])
    terms, logits = contrast_terms(record, emb)
    ranked = np.argsort(-logits, axis=1)
    correct = np.where(ranked[:, 0] == emb["labels"])[0]
    i = int(correct[terms[correct].sum(axis=1).argmax()])
    pair = (torch.tensor([int(ranked[i, 0])]), torch.tensor([int(ranked[i, 1])]))
    versions = {"original": (terms[i], emb["factor_values"][i])}
    for edit in EDITS:
        edited, _ = contrast_terms(record, emb, emb[f"edit_{edit.name}_z"][i : i + 1], pair)
        versions[edit.name.replace("_", " ")] = (edited[0], emb[f"edit_{edit.name}_factor_values"][i])
    classes = list(emb["classes"])
    return {
        "file": str(emb["paths"][i]),
        "fold": row["fold"],
        "seed": int(row["seed"]),
        "emotion": classes[int(emb["labels"][i])],
        "runner_up": classes[int(ranked[i, 1])],
        "factors": list(emb["factor_names"]),
        "versions": versions,
        "clip_seconds": record["config"]["clip_seconds"],
    }


def example_audio(example: dict, data_dir: str | None = None) -> dict | str:
    """The example clip as the model heard it (the first ``clip_seconds``) and each edit of it,
    name -> waveform [T] at 16 kHz; or, where the dataset is absent (the book reads only
    ``results/``), a one-line note saying how to hear them."""
    try:
        path = dataset_root("emodb", data_dir) / "wav" / example["file"]
    except FileNotFoundError:
        path = None
    if path is None or not path.is_file():
        return (
            f"Audio players need EmoDB's {example['file']} (not stored with the results): set PP_DATA_DIR "
            "to a folder holding emodb/ and rebuild the book to hear the clip and its edits."
        )
    samples = round((example["clip_seconds"] or emodb.CLIP_SECONDS) * SAMPLE_RATE)
    wave = read_audio(path)
    versions = {"original": wave[:samples]}
    for edit in EDITS:
        versions[edit.name.replace("_", " ")] = apply_edit(wave, edit)[:samples]
    return versions


def players(audio: dict[str, torch.Tensor]) -> dict[str, Audio]:
    """An audio player per version, each at its own level: one common gain for all of them (so the
    loudest peaks at full scale only if it would clip), never the player's own per-clip
    normalisation, which would play a louder edit at the original's level.

    >>> t = torch.arange(1600) / SAMPLE_RATE
    >>> tone = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    >>> out = players({"original": tone, "louder": 2 * tone})
    >>> sorted(out), round(level_db(out["louder"]) - level_db(out["original"]), 2)
    (['louder', 'original'], 6.02)
    """
    peak = max(float(w.abs().max()) for w in audio.values())
    gain = 1.0 / peak if peak > 1.0 else 1.0
    return {name: Audio((w * gain).numpy(), rate=SAMPLE_RATE, normalize=False) for name, w in audio.items()}


def level_db(player: Audio) -> float:
    """The RMS level in dBFS of what a player plays (its WAV bytes decoded)."""
    import io

    import soundfile

    samples, _ = soundfile.read(io.BytesIO(player.data))
    return float(20 * np.log10(np.sqrt(np.mean(samples**2))))


def show_example(example: dict) -> None:
    """The illustration's figure: its margin split into blocks, for the clip and each edit."""
    labels = [LABELS[f] for f in example["factors"]]
    title = (
        f"{example['file']} (test speaker {example['fold']}, seed {example['seed']}): {example['emotion']} "
        f"over {example['runner_up']}"
    )
    edit_explanations(example["versions"], [*labels, "residual", "bias"], title)
    show()


def play_example(example: dict) -> None:
    """An audio player per version of the illustration's clip with its measured factors, or the
    note saying how to hear them."""
    labels = [LABELS[f] for f in example["factors"]]
    audio = example_audio(example)
    if isinstance(audio, str):
        print(audio)
        return
    for name, player in players(audio).items():
        measured = ", ".join(f"{label} {v:.1f}" for label, v in zip(labels, example["versions"][name][1]))
        display(HTML(f"<b>{name}</b>: {measured} (pitch in Hz, loudness in LUFS)"))
        display(player)
