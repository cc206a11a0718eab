"""The trainer scales: two data-parallel processes (DDP over gloo, on CPU) stay in step, and
bf16 mixed precision runs on CPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from vcsep.datasets.synth import SynthSettings, synthesize_corpus
from vcsep.fusion import ConditionedSeparator
from vcsep.training.data import SeparationDataModule
from vcsep.training.module import SeparatorModule


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(out, 4, SynthSettings(seed=1, size=(96, 54), max_seconds=3.0))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ddp_processes_on_cpu_train_in_step(corpus, configs, tiny_train_args, tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "vcsep.cli",
        "train",
        "fit",
        "--config",
        str(configs / "base.yaml"),
        "--data.data",
        f"urmp:{corpus}",
        "--run_dir",
        str(run),
        *tiny_train_args,
        "--data.batch_size",
        "1",
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--trainer.max_steps",
        "3",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.callbacks+=vcsep.training.callbacks.ReplicaCheck",
    ]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    replicas = json.loads((run / "replicas.json").read_text())
    assert replicas["world_size"] == 2 and len(replicas["checksums"]) == 2
    assert replicas["checksums"][0] == pytest.approx(replicas["checksums"][1], rel=1e-12)
    assert (run / "separator.pt").is_file()


def test_bf16_mixed_precision_trains_on_cpu(corpus):
    torch.manual_seed(0)
    separator = ConditionedSeparator("film", "bottleneck", levels=2, features=4, sample_rate=8000)
    module = SeparatorModule(separator, lr=1e-3)
    data = SeparationDataModule(
        f"urmp:{corpus}", output_length=512, batch_size=2, train_examples=6, val_examples=2
    )
    dtypes = []
    separator.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    losses = []

    class Losses(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = L.Trainer(
        accelerator="cpu",
        precision="bf16-mixed",
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=[Losses()],
    )
    trainer.fit(module, data)
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the forward pass ran in bfloat16
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert next(separator.parameters()).dtype == torch.float32  # master weights stay float32
