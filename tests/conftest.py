"""Fixtures shared by several test folders."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="session")
def configs() -> Path:
    """The repository's configs/ folder (base.yaml and the ablation cells)."""
    return CONFIGS


@pytest.fixture(scope="session")
def tiny_train_args() -> list[str]:
    """LightningCLI overrides that make any config train a tiny model on short windows in seconds."""
    return (
        "--model.separator.init_args.levels 2 --model.separator.init_args.features 4 "
        "--model.separator.init_args.sample_rate 8000 --data.output_length 1024 "
        "--data.num_workers 0 --data.batch_size 2 --data.train_examples 8 --data.val_examples 2 "
        "--trainer.log_every_n_steps 1"
    ).split()
