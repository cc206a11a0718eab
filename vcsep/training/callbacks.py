"""Callbacks: separator export, audio/spectrogram summaries, and data-stall measurement."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import matplotlib
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from vcsep.audio.spectrogram import draw_spectrogram
from vcsep.files import write_json
from vcsep.training.module import SeparatorModule

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def run_dir(trainer: L.Trainer) -> Path:
    """The folder of this run: the first logger's log_dir, else the trainer's root dir."""
    if trainer.loggers and trainer.loggers[0].log_dir:
        return Path(trainer.loggers[0].log_dir)
    return Path(trainer.default_root_dir)


class ExportSeparator(L.Callback):
    """At the end of fit, write the separator as a vcsep checkpoint (``separator.pt`` in the run
    folder), the file ``vcsep evaluate`` and ``vcsep separate`` read."""

    def __init__(self, filename: str = "separator.pt") -> None:
        self.filename = filename
        self.path: Path | None = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: SeparatorModule) -> None:
        if trainer.is_global_zero:
            folder = run_dir(trainer)
            folder.mkdir(parents=True, exist_ok=True)
            self.path = pl_module.export(folder / self.filename)


class AudioSummaries(L.Callback):
    """Every ``every_n_steps`` training steps, log to TensorBoard the first example's mixture, its
    present stems (target and estimate) as audio, and their spectrograms as one figure."""

    def __init__(self, every_n_steps: int = 500, max_stems: int = 3) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps, self.max_stems = every_n_steps, max_stems

    def on_train_batch_end(self, trainer, pl_module: SeparatorModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if logger is None or step % self.every_n_steps or not trainer.is_global_zero:
            return
        with torch.no_grad():
            estimate = pl_module(batch["mixture"][:1], batch["condition"][:1])[0].float().cpu()
        targets = batch["targets"][0].float().cpu()
        rate = pl_module.separator.sample_rate
        length = targets.shape[-1]
        mixture = batch["mixture"][0].float().cpu()
        offset = (mixture.shape[-1] - length) // 2
        mixture = mixture[:, offset : offset + length]
        present = torch.nonzero(batch["labels"][0] > 0.5).flatten().tolist()[: self.max_stems]
        writer = logger.experiment
        writer.add_audio("audio/mixture", mixture.mean(0, keepdim=True), step, rate)
        rows = [("mixture", mixture)]
        for k in present:
            writer.add_audio(f"audio/slot{k}_target", targets[k].mean(0, keepdim=True), step, rate)
            writer.add_audio(f"audio/slot{k}_estimate", estimate[k].mean(0, keepdim=True), step, rate)
            rows += [(f"slot {k} target", targets[k]), (f"slot {k} estimate", estimate[k])]
        writer.add_figure("spectrograms", _spectrograms(rows, rate), step)


def _spectrograms(rows: list[tuple[str, torch.Tensor]], rate: int):
    """A figure with one log-magnitude spectrogram (dB) per ``(title, audio [C, L])`` row."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.6 * len(rows)), squeeze=False)
    for ax, (title, audio) in zip(axes[:, 0], rows):
        draw_spectrogram(ax, audio.numpy(), rate, title)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


class DataStallMonitor(L.Callback):
    """Measures the share of training time spent waiting for data, and samples per second.

    Wait time is the gap between the end of one training batch and the start of the next (the
    data loader's fetch); the first batch is left out (it includes worker start-up). Logged as
    ``perf/stall_fraction`` and ``perf/samples_per_s``; totals stay on the callback.
    """

    def __init__(self) -> None:
        self.wait_s = self.step_s = 0.0
        self.samples = 0
        self._end: float | None = None
        self._start = 0.0

    @property
    def stall_fraction(self) -> float:
        total = self.wait_s + self.step_s
        return self.wait_s / total if total else 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._end = None  # the first fetch of an epoch includes the loader's start-up

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()
        if self._end is not None:
            self.wait_s += self._start - self._end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._end is not None:
            self.step_s += now - self._start
            self.samples += int(batch["mixture"].shape[0])
            if self.step_s > 0:
                size = int(batch["mixture"].shape[0])
                pl_module.log("perf/stall_fraction", self.stall_fraction, batch_size=size)
                pl_module.log(
                    "perf/samples_per_s", self.samples / (self.wait_s + self.step_s), batch_size=size
                )
        self._end = now


class ReplicaCheck(L.Callback):
    """At the end of fit, checks that every process holds the same weights (data-parallel replicas
    must never drift apart) and writes each rank's parameter checksum to ``replicas.json`` in the run
    folder; raises a RuntimeError naming the ranks that differ."""

    def on_fit_end(self, trainer: L.Trainer, pl_module: SeparatorModule) -> None:
        with torch.no_grad():
            checksum = torch.stack([p.double().sum() for p in pl_module.parameters()]).sum()
        sums = [float(s) for s in trainer.strategy.all_gather(checksum).reshape(-1)]
        if trainer.is_global_zero:
            folder = run_dir(trainer)
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / "replicas.json", {"world_size": trainer.world_size, "checksums": sums})
        if any(abs(s - sums[0]) > 1e-9 * max(1.0, abs(sums[0])) for s in sums):
            raise RuntimeError(f"data-parallel replicas hold different weights: checksums {sums}")
