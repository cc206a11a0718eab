"""The LightningModule: trains a conditioned separator (with its visual head, if it has one)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from vcsep.fusion.checkpoint import save_checkpoint
from vcsep.fusion.separator import ConditionedSeparator
from vcsep.training.losses import LOSSES, separation_loss, si_sdr


class SeparatorModule(L.LightningModule):
    """Trains ``separator`` (a :class:`~vcsep.fusion.separator.ConditionedSeparator`: its
    architecture, sources and visual head are its own arguments) on mixed examples.

    A batch holds ``mixture [B, C, L_in]``, ``targets [B, K, C, L_out]``, ``labels [B, K]`` (ground
    truth presence) and ``condition [B, K]`` (what the model is told: truth, detections, or a
    noisy version of either). When the separator has a visual head, the condition goes through it
    first and ``aux_weight`` x BCE(head, labels) joins the loss.

    Optimizer: Adam at ``lr``, multiplied by ``lr_decay`` every ``lr_decay_steps`` steps (the
    original project: 1e-5, x0.96 every 2000 steps). Gradient clipping is the Trainer's
    ``gradient_clip_val``.
    """

    def __init__(
        self,
        separator: ConditionedSeparator,
        loss: str = "mse",
        silent_weight: float = 0.1,
        lr: float = 1e-5,
        lr_decay: float = 0.96,
        lr_decay_steps: int = 2000,
        aux_weight: float = 0.1,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        self.save_hyperparameters(ignore=["separator"])
        self.separator = separator

    def setup(self, stage: str) -> None:
        vocabulary = getattr(self.trainer.datamodule, "vocabulary", None) if self.trainer else None
        if vocabulary is not None and vocabulary.codes != self.separator.sources:
            raise ValueError(
                f"the data's sources ({vocabulary.name}: {', '.join(vocabulary.codes)}) are not the "
                f"separator's ({', '.join(self.separator.sources)})"
            )

    def forward(self, mixture: Tensor, condition: Tensor | None = None) -> Tensor:
        """Stems ``[B, K, C, L_out]`` of ``mixture [B, C, L_in]`` given detector/label input ``[B, K]``."""
        if condition is not None:
            condition, _ = self.separator.labels_from_presence(condition)
        return self.separator(mixture, condition)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        hp = self.hparams
        condition, logits = self.separator.labels_from_presence(batch["condition"])
        estimate = self.separator(batch["mixture"], condition)
        present = batch["labels"] > 0.5
        loss = separation_loss(estimate, batch["targets"], present, hp.loss, hp.silent_weight)
        size = batch["mixture"].shape[0]
        self.log(f"{stage}/separation", loss, batch_size=size)
        if logits is not None:
            aux = F.binary_cross_entropy_with_logits(logits, batch["labels"])
            self.log(f"{stage}/presence_bce", aux, batch_size=size)
            loss = loss + hp.aux_weight * aux
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size)
        if stage == "val":
            audible = present & (batch["targets"].pow(2).mean(dim=(-2, -1)) > 1e-8)
            if audible.any():
                sdr = si_sdr(batch["targets"].flatten(-2)[audible], estimate.flatten(-2)[audible])
                self.log("val/si_sdr", sdr.mean(), prog_bar=True, batch_size=size)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = torch.optim.Adam(self.parameters(), lr=hp.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=hp.lr_decay_steps, gamma=hp.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def export(self, path: str | Path) -> Path:
        """Write the separator (visual head included) as a vcsep separator checkpoint."""
        return save_checkpoint(self.separator, path, global_step=int(self.global_step))
