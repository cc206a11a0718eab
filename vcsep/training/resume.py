"""What makes a training run safe to stop and start again in its run folder.

- :func:`resume_checkpoint`: the checkpoint to resume from, the one with the highest global step
  that loads (not the newest file: a run that failed at once would otherwise leave a step-0 file
  that wins); unreadable files are named and skipped.
- :class:`ExceptionCheckpoint`: Lightning's on-exception checkpoint, except before the first step,
  where it would only save the initial weights over the real progress.
- :class:`HistoryCSVLogger`: a CSV logger that appends to the run's ``metrics.csv`` on resume
  instead of deleting it.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import torch
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


def checkpoint_step(path: str | os.PathLike) -> int:
    """The global step stored in the Lightning checkpoint at ``path``, loaded weights-only (no
    pickled code runs); a ValueError naming the file when it cannot be read."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(payload["global_step"])
    except Exception as err:  # torch raises several kinds for truncated, empty or foreign files
        raise ValueError(
            f"{path}: not a readable training checkpoint ({type(err).__name__}: {err})"
        ) from None


def resume_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The ``*.ckpt`` of ``folder`` with the highest global step that loads (the newest of equal
    steps), or None when the folder holds none. Unreadable ones are skipped with a warning naming
    them; when there are checkpoints and none loads, a ValueError lists them (starting afresh
    silently would throw the run's progress away)."""
    found: list[tuple[int, float, Path]] = []
    bad = []
    for path in sorted(Path(folder).glob("*.ckpt")):
        try:
            found.append((checkpoint_step(path), path.stat().st_mtime, path))
        except ValueError as err:
            bad.append(str(err))
    if bad and not found:
        raise ValueError(
            "no checkpoint of this run can be read: " + "; ".join(bad) + ". Move them away to start afresh."
        )
    for message in bad:
        warnings.warn(f"{message}; resuming from another checkpoint", stacklevel=2)
    return max(found)[2] if found else None


class ExceptionCheckpoint(OnExceptionCheckpoint):
    """:class:`~lightning.pytorch.callbacks.OnExceptionCheckpoint` that writes nothing before the first
    training step: a run that fails at once (bad data, a wrong flag) has nothing to save."""

    def on_exception(self, trainer, *args, **kwargs) -> None:
        if trainer.global_step > 0:
            super().on_exception(trainer, *args, **kwargs)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, keeping the rows (and header) of an existing ``metrics.csv``."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as file:
                self.metrics_keys = sorted(csv.DictReader(file).fieldnames or [])


class HistoryCSVLogger(CSVLogger):
    """:class:`~lightning.pytorch.loggers.CSVLogger` that keeps the earlier rows of ``metrics.csv`` when a
    run resumes in its folder (Lightning's deletes them)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
