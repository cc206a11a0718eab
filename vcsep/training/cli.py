"""``vcsep train``: LightningCLI over the separator module and the data module.

The separator is the module's ``separator`` argument (``class_path`` + ``init_args``), so its
architecture lives in one place. Its ``sources`` follow from the data (``--data.data musdb4:...``
trains a 4-source model) and the data module takes its window lengths from the separator, so
nothing is written twice. ``--cell NAME`` picks a cell of the conditioning ablation
(:data:`vcsep.fusion.CELLS`: ``baseline`` or ``<mechanism>_<location>``). ``--run_dir`` names the
folder of a run: TensorBoard and CSV logs, checkpoints and the exported ``separator.pt`` all go
there, and running the same command again resumes from the newest checkpoint in it.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

from vcsep.datasets.registry import vocabulary_of
from vcsep.fusion.separator import CELLS
from vcsep.training.data import SeparationDataModule
from vcsep.training.module import SeparatorModule

_LOGGERS = ("lightning.pytorch.loggers.TensorBoardLogger", "lightning.pytorch.loggers.CSVLogger")


def sources_of(data: str) -> list[str]:
    """The source codes a separator trained on dataset ``data`` (``KIND:PATH``) outputs, in order."""
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
            if callback.class_path.endswith("OnExceptionCheckpoint"):
                callback.init_args.dirpath = str(run / "checkpoints")
        config.trainer.callbacks = callbacks


@contextmanager
def _argv(args: list[str]):
    """Make ``sys.argv`` the command that runs this training (``<program> train <args>``): Lightning's
    DDP launcher starts the other ranks by running ``sys.argv`` again, and LightningCLI must not
    parse the arguments of whatever program called :func:`train_main`."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "vcsep", "train", *args]
    try:
        yield
    finally:
        sys.argv = saved


def train_main(args: list[str], run: bool = True) -> VcsepCLI:
    """Run ``vcsep train`` with ``args`` (``fit --config ...``, ``validate ...``); returns the CLI.

    Several devices (``--trainer.devices 2 --trainer.strategy ddp``) need the console script or
    ``python -m vcsep.cli``, which the launcher can run again for each rank."""
    with _argv(args):
        return VcsepCLI(
            SeparatorModule,
            SeparationDataModule,
            args=args,
            run=run,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "vcsep train"},
        )
