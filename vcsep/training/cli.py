"""``vcsep train``: LightningCLI over the separator module and the data module.

The data module's window lengths and audio format follow the model's (linked arguments), so a
config sets them once, under ``model``. ``--run_dir`` names the folder of a run: TensorBoard and
CSV logs, checkpoints and the exported ``separator.pt`` all go there, and running the same
command again resumes from the newest checkpoint in it (Lightning's fault-tolerant resume).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

from vcsep.training.data import SeparationDataModule
from vcsep.training.module import SeparatorModule

LINKED = ("levels", "down_kernel", "up_kernel", "sample_rate", "channels")
_LOGGERS = ("lightning.pytorch.loggers.TensorBoardLogger", "lightning.pytorch.loggers.CSVLogger")


class VcsepCLI(LightningCLI):
    """LightningCLI with the model -> data links of :data:`LINKED` and a ``--run_dir``."""

    def add_arguments_to_parser(self, parser) -> None:
        for key in LINKED:
            parser.link_arguments(f"model.{key}", f"data.{key}")
        parser.add_argument(
            "--run_dir",
            default="runs/default",
            help="folder of this run's logs, checkpoints and separator.pt",
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
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
def _argv(prog: str):
    """LightningCLI reads sys.argv as well as ``args``; show it only the program name."""
    saved = sys.argv
    sys.argv = [prog]
    try:
        yield
    finally:
        sys.argv = saved


def train_main(args: list[str], run: bool = True) -> VcsepCLI:
    """Run ``vcsep train`` with ``args`` (``fit --config ...``, ``validate ...``); returns the CLI."""
    with _argv("vcsep train"):
        return VcsepCLI(
            SeparatorModule,
            SeparationDataModule,
            args=args,
            run=run,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "vcsep train"},
        )
