"""``vcsep train``: LightningCLI over the separator module and the data module.

The separator is the module's ``separator`` argument (``class_path`` + ``init_args``), so its
architecture lives in one place. Its ``sources`` follow from the data (``--data.data musdb4:...``
trains a 4-source model) and the data module takes its window lengths from the separator, so
nothing is written twice. ``--cell NAME`` picks a cell of the conditioning ablation
(:data:`vcsep.fusion.CELLS`: ``baseline`` or ``<mechanism>_<location>``). ``--run_dir`` names the
folder of a run: TensorBoard and CSV logs, checkpoints and the exported ``separator.pt`` all go
there, and running the same command again resumes from the checkpoint with the highest step there
that loads (see :mod:`vcsep.training.resume`).
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from vcsep.datasets.registry import vocabulary_of
from vcsep.fusion.separator import CELLS
from vcsep.training.data import SeparationDataModule
from vcsep.training.module import SeparatorModule
from vcsep.training.resume import checkpoint_step, fitting_step, resume_checkpoint

_LOGGERS = ("lightning.pytorch.loggers.TensorBoardLogger", "vcsep.training.resume.HistoryCSVLogger")
# Exit status of a run stopped by SIGTERM (128 + 15, as the shell reports it): after its checkpoint
# is saved, so `vcsep train ... && vcsep evaluate ...` stops there.
SIGTERM_EXIT = 143


def sources_of(data: str | list[str]) -> list[str]:
    """The source codes a separator trained on dataset ``data`` (``KIND:PATH`` or a list of them)
    outputs, in order."""
    return list(vocabulary_of(data).codes)


class VcsepCLI(LightningCLI):
    """LightningCLI with the data -> separator sources link, ``--cell`` and ``--run_dir``."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.data", "model.separator.init_args.sources", compute_fn=sources_of)
        parser.add_argument(
            "--cell",
            default=None,
            choices=[None, *CELLS],
            metavar="CELL",
            help="a cell of the conditioning ablation, baseline or MECHANISM_LOCATION (film_input...): "
            "sets the separator's mechanism and location",
        )
        parser.add_argument(
            "--run_dir",
            default="runs/default",
            help="folder of this run's logs, checkpoints and separator.pt",
        )

    def _parse_ckpt_path(self) -> None:
        # Lightning reads a given --ckpt_path here first; an unreadable one must be named, not
        # reported as "[Errno 22] Invalid argument".
        subcommand = self.config.get("subcommand")
        given = self.config[subcommand].get("ckpt_path") if subcommand else None
        if given:
            checkpoint_step(given)
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.cell:
            separator = config.model.separator.init_args
            separator.mechanism, separator.location = CELLS[config.cell]
        run = Path(config.run_dir)
        config.trainer.default_root_dir = str(run)
        config.trainer.logger = [
            Namespace(
                class_path=path, init_args=Namespace(save_dir=str(run.parent), name="", version=run.name)
            )
            for path in _LOGGERS
        ]
        callbacks = config.trainer.callbacks or []
        if config.trainer.enable_progress_bar is False:  # else Lightning refuses the config's bar
            callbacks = [c for c in callbacks if not c.class_path.endswith("ProgressBar")]
        for callback in callbacks:
            if callback.class_path.endswith("ExceptionCheckpoint"):
                # vcsep's: never saved before the first step (see vcsep.training.resume)
                callback.class_path = "vcsep.training.resume.ExceptionCheckpoint"
                callback.init_args.dirpath = str(run / "checkpoints")
        config.trainer.callbacks = callbacks

    def after_instantiate_classes(self) -> None:
        # the checkpoint is chosen once the model exists: it must fit the model's shapes
        if self.subcommand == "fit":
            config = self.config[self.subcommand]
            shapes = {name: tuple(t.shape) for name, t in self.model.state_dict().items()}
            path = _choose_checkpoint(config, Path(config.run_dir) / "checkpoints", shapes)
            for chosen in (config, self.config_init[self.subcommand]):
                chosen.ckpt_path = path
                if "weights_only" in chosen:
                    chosen.weights_only = True


def _choose_checkpoint(config: Namespace, folder: Path, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """The checkpoint to resume from: ``--ckpt_path`` when given, else the best checkpoint in the
    run's folder (:func:`~vcsep.training.resume.resume_checkpoint`); either way it must fit the
    model's state dict ``shapes`` (name -> shape), and it is loaded weights-only."""
    given = config.get("ckpt_path")
    if given:
        fitting_step(given, shapes)
        return given
    found = resume_checkpoint(folder, shapes)
    if found:
        print(f"resuming from {found} (step {checkpoint_step(found)})", file=sys.stderr)
    return str(found) if found else None


class StartedRunConfig(SaveConfigCallback):
    """Lightning's :class:`~lightning.pytorch.cli.SaveConfigCallback`, writing the run folder's
    ``config.yaml`` when training starts (after the checkpoint is restored and the data are
    loaded) instead of at setup: a run that fails before it starts leaves the config of the run
    that made the folder's checkpoints as it was."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        pass

    def on_train_start(self, trainer, pl_module) -> None:
        super().setup(trainer, pl_module, "fit")


@contextmanager
def _argv(args: list[str]):
    """Make ``sys.argv`` the command that runs this training (``<program> train <args>``): Lightning's
    DDP launcher starts the other ranks by running ``sys.argv`` again, and LightningCLI must not
    parse the arguments of whatever program called :func:`train_main`."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "vcsep", "train", *args]
    try:
        with warnings.catch_warnings():  # LightningCLI warns when argv and args both hold arguments
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
            yield
    finally:
        sys.argv = saved


def train_main(args: list[str], run: bool = True) -> VcsepCLI:
    """Run ``vcsep train`` with ``args`` (``fit --config ...``, ``validate ...``); returns the CLI.

    Several devices (``--trainer.devices 2 --trainer.strategy ddp``) need the console script or
    ``python -m vcsep.cli``, which the launcher can run again for each rank. A run stopped by SIGTERM
    raises ``SystemExit(SIGTERM_EXIT)`` once its checkpoint is saved (Lightning would end it with
    status 0, as if it had finished).
    """
    with _argv(args):
        try:
            cli = VcsepCLI(
                SeparatorModule,
                SeparationDataModule,
                args=args,
                run=run,
                save_config_callback=StartedRunConfig,
                save_config_kwargs={"overwrite": True},
                parser_kwargs={"prog": "vcsep train"},
            )
        except SIGTERMException:
            print("vcsep train: terminated (SIGTERM); run the same command to resume", file=sys.stderr)
            raise SystemExit(SIGTERM_EXIT) from None
    # Lightning leaves a DDP run's process group alive; Gloo's worker threads then die with the
    # interpreter and abort the process ("terminate called without an active exception") after a
    # run that went well. Every rank gets here together, so the group ends collectively.
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return cli
