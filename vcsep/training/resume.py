"""What makes a training run safe to stop and start again in its run folder.

- :func:`resume_checkpoint`: the checkpoint to resume from, the one with the highest global step
  that loads and fits the model (not the newest file: a run that failed at once would otherwise
  leave a step-0 file that wins); unreadable files and ones of other shapes are named and skipped.
- :class:`ExceptionCheckpoint`: Lightning's on-exception checkpoint, except before the first step,
  where it would only save the initial weights over the real progress.
- :class:`HistoryCSVLogger`: a CSV logger that appends to the run's ``metrics.csv`` on resume
  instead of deleting it.
- :func:`export_run`: the separator of a run stopped before its end (``vcsep export``), from its
  best checkpoint or a chosen one: a long run is usable and scorable while it trains.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
import yaml
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from vcsep.fusion.checkpoint import save_checkpoint
from vcsep.fusion.separator import ConditionedSeparator
from vcsep.weights import load_weights_only


def checkpoint_step(path: str | os.PathLike) -> int:
    """The global step stored in the Lightning checkpoint at ``path``, loaded weights-only (no
    pickled code runs); a ValueError naming the file when it cannot be read."""
    return int(_read(path)["global_step"])


def _read(path: str | os.PathLike) -> dict:
    """The Lightning checkpoint at ``path`` (memory-mapped, weights-only) with its ``global_step``
    and ``state_dict`` checked; a ValueError naming the file otherwise."""
    payload = load_weights_only(path, "training checkpoint", mmap=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"{path}: not a readable training checkpoint (no state_dict)")
    if not isinstance(payload.get("global_step"), int):
        raise ValueError(f"{path}: not a readable training checkpoint (no global step)")
    return payload


def misfit(state: Mapping[str, torch.Tensor], shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """Why the weights ``state`` (name -> tensor) do not fit a model whose state dict has
    ``shapes`` (name -> shape), in a few words naming the first differences; None when they fit."""
    missing = [k for k in shapes if k not in state]
    extra = [k for k in state if k not in shapes]
    sizes = [
        f"{k} is {list(state[k].shape)}, the model's {list(shape)}"
        for k, shape in shapes.items()
        if k in state and tuple(state[k].shape) != tuple(shape)
    ]
    problems = sizes[:2] + [f"no {k}" for k in missing[:2]] + [f"an unknown {k}" for k in extra[:2]]
    if not problems:
        return None
    more = len(sizes) + len(missing) + len(extra) - len(problems)
    return ", ".join(problems) + (f" and {more} more differences" if more > 0 else "")


def fitting_step(path: str | os.PathLike, shapes: Mapping[str, tuple[int, ...]] | None) -> int:
    """The global step of the Lightning checkpoint at ``path`` after checking that its weights fit a
    model with the state dict ``shapes`` (name -> shape; None: no check); a ValueError naming the
    file when it cannot be read or does not fit."""
    return int(_fitting(path, shapes)["global_step"])


def _fitting(path: str | os.PathLike, shapes: Mapping[str, tuple[int, ...]] | None) -> dict:
    """The Lightning checkpoint at ``path`` (:func:`_read`) once its weights are checked against
    ``shapes`` as :func:`fitting_step` says."""
    payload = _read(path)
    why = misfit(payload["state_dict"], shapes) if shapes is not None else None
    if why:
        raise ValueError(f"{path}: made for another architecture ({why})")
    return payload


def resume_checkpoint(
    folder: str | os.PathLike, shapes: Mapping[str, tuple[int, ...]] | None = None
) -> Path | None:
    """The ``*.ckpt`` of ``folder`` with the highest global step that loads and fits a model with
    the state dict ``shapes`` (name -> shape; None: any), the newest of equal steps; None when the
    folder holds none. Unreadable ones and ones of another architecture are skipped with a warning
    naming them; when there are checkpoints and none can be resumed, a ValueError says why (starting
    afresh silently would throw the run's progress away, and a changed architecture must not be
    trained in the folder of another)."""
    found: list[tuple[int, float, Path]] = []
    bad = []
    for path in sorted(Path(folder).glob("*.ckpt")):
        try:
            found.append((fitting_step(path, shapes), path.stat().st_mtime, path))
        except ValueError as err:
            bad.append(str(err))
    if bad and not found:
        raise ValueError(
            "no checkpoint of this run can be read and resumed: "
            + "; ".join(bad)
            + ". Give the run another --run_dir, or move them away to start afresh."
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


def export_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> tuple[Path, int]:
    """Write the separator of the training run in ``run_dir`` to ``out`` (default
    ``RUN_DIR/separator-step<STEP>.pt``) as a vcsep separator checkpoint, as the run writes its
    ``separator.pt`` when it ends; returns ``(the file, global step)``.

    The architecture comes from the run's ``config.yaml`` (``model.separator.init_args``), the weights
    from ``checkpoint`` or else the run's checkpoint with the highest step that fits
    (:func:`resume_checkpoint`), loaded weights-only. A ValueError names what is missing or wrong.
    """
    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise ValueError(f"{run_dir}: not a training run folder (no config.yaml)")
    config = yaml.safe_load(config_file.read_text())
    try:
        init_args = config["model"]["separator"]["init_args"]
    except (KeyError, TypeError):
        raise ValueError(f"{config_file}: no model.separator.init_args") from None
    model = ConditionedSeparator(**init_args)
    shapes = {f"separator.{name}": tuple(t.shape) for name, t in model.state_dict().items()}
    if checkpoint is None:
        checkpoint = resume_checkpoint(run_dir / "checkpoints", shapes)
        if checkpoint is None:
            raise ValueError(f"{run_dir}: no checkpoint yet (the first is saved after training starts)")
    payload = _fitting(checkpoint, shapes)
    step = int(payload["global_step"])
    model.load_state_dict({k.removeprefix("separator."): v for k, v in payload["state_dict"].items()})
    out = run_dir / f"separator-step{step}.pt" if out is None else out
    return save_checkpoint(model, out, global_step=step, checkpoint=str(checkpoint)), step
