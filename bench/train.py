"""Training throughput on CPU: examples per second and the share of step time spent waiting for data.

Trains a tiny configuration and the full one (12 levels, 24 features, K=13, 22050 Hz mono,
16384 requested outputs, FiLM at the bottleneck) for a few steps with Lightning on a synthetic
corpus, mixing in memory with one loader worker. Ends with ``samples_per_s=<x> stall_fraction=<y>``
for the full configuration. Target: stall_fraction < 0.05.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import lightning as L
import torch

from vcsep.datasets.synth import SynthSettings, synthesize_corpus
from vcsep.fusion import ConditionedSeparator
from vcsep.training.callbacks import DataStallMonitor
from vcsep.training.data import SeparationDataModule
from vcsep.training.module import SeparatorModule

CONFIGS = {
    # name: (model arguments, output_length, batch size, steps)
    "tiny": ({"levels": 4, "features": 8}, 4096, 8, 40),
    "full": ({"levels": 12, "features": 24}, 16384, 4, 5),
}


def measure(corpus: Path, model_args: dict, output_length: int, batch: int, steps: int) -> DataStallMonitor:
    module = SeparatorModule(ConditionedSeparator("film", "bottleneck", **model_args), lr=1e-4)
    data = SeparationDataModule(
        f"urmp:{corpus}",
        output_length=output_length,
        batch_size=batch,
        num_workers=1,
        train_examples=batch * (steps + 1),
        val_split=None,
    )
    monitor = DataStallMonitor()
    trainer = L.Trainer(
        max_steps=steps + 1,  # the first step (loader start-up) is not counted by the monitor
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[monitor],
    )
    trainer.fit(module, data)
    return monitor


def main() -> None:
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    results = {}
    with tempfile.TemporaryDirectory(prefix="vcsep-bench-train-") as tmp:
        corpus = Path(tmp) / "corpus"
        synthesize_corpus(corpus, 4, SynthSettings(seed=0, size=(128, 72), max_seconds=30.0))
        for name, (model_args, output_length, batch, steps) in CONFIGS.items():
            results[name] = measure(corpus, model_args, output_length, batch, steps)
    print(f"{'config':<6} {'batch':>5} {'steps':>5} {'samples/s':>10} {'step s':>8} {'stall':>7}")
    for name, m in results.items():
        _, _, batch, steps = CONFIGS[name]
        per_s = m.samples / (m.wait_s + m.step_s)
        step_s = m.step_s / (m.samples / batch)
        print(f"{name:<6} {batch:>5} {steps:>5} {per_s:>10.2f} {step_s:>8.2f} {m.stall_fraction:>7.4f}")
    full = results["full"]
    per_s = full.samples / (full.wait_s + full.step_s)
    print(f"samples_per_s={per_s:.3f} stall_fraction={full.stall_fraction:.4f}")


if __name__ == "__main__":
    main()
