"""The conditioning ablation as one call: train (or reuse) every cell, score it, report.

The cells are :data:`vcsep.fusion.CELLS` (the baseline and every mechanism at every location),
each trained as ``vcsep train fit --config base.yaml --cell NAME``; a cell that needs more than its
mechanism and location has a YAML ``<overrides>/<NAME>.yaml`` applied on top. Each cell trains into
``<out>/runs/<cell>/``; a cell whose ``separator.pt`` exists is not trained again, and one that
was interrupted resumes from its newest checkpoint. The study writes ``results.md`` /
``results.csv`` (median SDR per instrument and overall, with spread), violin plots of
segment-wise SDR/SIR/SAR and ``report/index.html`` with the table, the plots and audio players for
a few segments per cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from vcsep.audio.inference import separate_long
from vcsep.audio.io import write_audio
from vcsep.datasets import Track, load_dataset
from vcsep.evaluation.report import html_report, results_table
from vcsep.evaluation.scoring import EvaluationResult, evaluate_separator, write_result
from vcsep.files import write_text
from vcsep.fusion import CELLS
from vcsep.fusion.checkpoint import load_separator

EXAMPLE_SECONDS = 4.0


def check_cells(cells: list[str] | None) -> list[str]:
    """``cells`` (default: all of :data:`CELLS`), each checked; a clear error for an unknown name."""
    cells = list(CELLS) if cells is None else list(cells)
    unknown = [c for c in cells if c not in CELLS]
    if unknown or not cells:
        raise ValueError(f"unknown ablation cells {unknown or '(none given)'}; known: {', '.join(CELLS)}")
    return cells


def train_cell(
    base: Path, cell: str, data: str, run_dir: Path, train_args: list[str], overrides: Path | None = None
) -> Path:
    """Train one cell into ``run_dir`` (resuming if it was interrupted); returns its separator.pt."""
    from vcsep.training.cli import train_main

    separator = run_dir / "separator.pt"
    if not separator.is_file():
        override = overrides / f"{cell}.yaml" if overrides else None
        extra = ["--config", str(override)] if override and override.is_file() else []
        train_main(
            ["fit", "--config", str(base), *extra, "--cell", cell, "--data.data", data,
             "--run_dir", str(run_dir), *train_args]
        )
    return separator


def audio_examples(
    model, track: Track, folder: Path, count: int = 2, device: str = "cpu"
) -> list[tuple[str, Path]]:
    """WAVs of a few seconds from the middle of ``track``: its mixture and the separated stems of
    up to ``count`` present instruments, as ``(title, path)``."""
    rate = model.sample_rate
    mixture = track.mixture_audio(rate, model.channels)
    n = int(EXAMPLE_SECONDS * rate)
    start = max(0, (mixture.shape[1] - n) // 2)
    segment = mixture[:, start : start + n]
    labels = track.labels if model.mechanism is not None else None
    stems = separate_long(model, segment, rate, labels=labels, device=device)
    folder.mkdir(parents=True, exist_ok=True)
    examples = [(f"{track.name}: mixture", write_audio(folder / "mixture.wav", segment, rate))]
    for code in track.codes[:count]:
        k = track.vocabulary.index(code)
        path = write_audio(folder / f"{code}.wav", np.clip(stems[k], -1, 1), rate)
        examples.append((f"{track.name}: {code} (separated)", path))
    return examples


def run_ablation(
    data: str,
    out: Path | str,
    base: Path | str,
    cells: list[str] | None = None,
    overrides: Path | str | None = None,
    train_args: list[str] | None = None,
    split: str | None = "test",
    metrics: str = "fast",
    device: str = "cpu",
) -> Path:
    """Train and evaluate ``cells`` (default: every cell of :data:`CELLS`) on ``data``; returns the
    report's index.html.

    ``base`` is the base training config; ``overrides`` a folder of ``<cell>.yaml`` files for the
    cells that change more than their mechanism and location; ``train_args`` are extra LightningCLI
    overrides for every cell (``["--trainer.max_steps", "2000"]``). Evaluation uses the ``split``
    side of the data (None: every track).
    """
    cells = check_cells(cells)
    base = Path(base)
    if not base.is_file():
        raise FileNotFoundError(f"base config {base} does not exist")
    overrides = Path(overrides) if overrides else None
    if overrides is not None and not overrides.is_dir():
        raise FileNotFoundError(f"overrides folder {overrides} does not exist")
    out = Path(out)
    tracks = load_dataset(data, split=split)
    results: dict[str, EvaluationResult] = {}
    examples: dict[str, list[tuple[str, Path]]] = {}
    for cell in tqdm(cells, desc="ablation", unit="cell"):
        separator = train_cell(base, cell, data, out / "runs" / cell, train_args or [], overrides)
        model = load_separator(separator, device=device)
        results[cell] = evaluate_separator(model, tracks, metrics=metrics, device=device)
        write_result(results[cell], out / "cells" / cell)
        examples[cell] = audio_examples(model, tracks[0], out / "examples" / cell, device=device)
    markdown, table = results_table(results)
    write_text(out / "results.md", markdown)
    write_text(out / "results.csv", table)
    return html_report(results, out / "report", examples)
