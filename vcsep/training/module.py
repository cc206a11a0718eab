"""The LightningModule: the conditioned separator, its losses, optimizer and optional visual head."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vcsep.fusion.checkpoint import save_checkpoint
from vcsep.fusion.separator import ConditionedSeparator
from vcsep.training.losses import LOSSES, separation_loss, si_sdr


class VisualHead(nn.Module):
    """Maps detector outputs ``[B, K]`` (presence probabilities) to conditioning logits ``[B, K]``.

    Trained jointly with the separator: it learns how far to trust each detector class (and to
    fill in instruments the detector cannot see), supervised by an instrument-presence loss.
    """

    def __init__(self, num_labels: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(num_labels, hidden), nn.ReLU(), nn.Linear(hidden, num_labels))

    def forward(self, detections: Tensor) -> Tensor:
        return self.net(detections)


class SeparatorModule(L.LightningModule):
    """Trains a :class:`~vcsep.fusion.separator.ConditionedSeparator` on mixed examples.

    A batch holds ``mixture [B, C, L_in]``, ``targets [B, K, C, L_out]``, ``labels [B, K]`` (ground
    truth presence) and ``condition [B, K]`` (what the model is told: truth, detections, or a
    noisy version of either). With ``visual_head`` the condition goes through :class:`VisualHead`
    first and ``aux_weight`` x BCE(head, labels) joins the loss.

    Optimizer: Adam at ``lr``, multiplied by ``lr_decay`` every ``lr_decay_steps`` steps (the
    original project: 1e-5, x0.96 every 2000 steps). Gradient clipping is the Trainer's
    ``gradient_clip_val``.
    """

    def __init__(
        self,
        mechanism: str | None = "film",
        location: str | None = "bottleneck",
        num_sources: int = 13,
        channels: int = 1,
        levels: int = 12,
        features: int = 24,
        down_kernel: int = 15,
        up_kernel: int = 5,
        sample_rate: int = 22050,
        upsampling: str = "linear",
        output: str = "direct",
        loss: str = "mse",
        silent_weight: float = 0.1,
        lr: float = 1e-5,
        lr_decay: float = 0.96,
        lr_decay_steps: int = 2000,
        visual_head: bool = False,
        visual_hidden: int = 64,
        aux_weight: float = 0.1,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        self.save_hyperparameters()
        self.separator = ConditionedSeparator(
            mechanism,
            location,
            num_sources=num_sources,
            channels=channels,
            levels=levels,
            features=features,
            down_kernel=down_kernel,
            up_kernel=up_kernel,
            sample_rate=sample_rate,
            upsampling=upsampling,
            output=output,
        )
        self.visual_head = VisualHead(num_sources, visual_hidden) if visual_head else None

    def setup(self, stage: str) -> None:
        vocabulary = getattr(self.trainer.datamodule, "vocabulary", None) if self.trainer else None
        if vocabulary is not None and len(vocabulary) != self.hparams.num_sources:
            raise ValueError(
                f"the data has {len(vocabulary)} sources ({vocabulary.name}) but the model "
                f"num_sources is {self.hparams.num_sources}"
            )

    def shapes(self, output_length: int) -> tuple[int, int]:
        """(input length, output length) in samples for at least ``output_length`` outputs."""
        return self.separator.shapes(output_length)

    def conditioning(self, condition: Tensor) -> tuple[Tensor, Tensor | None]:
        """The separator's label input ``[B, K]`` and the visual head's logits (None without a head)."""
        if self.visual_head is None:
            return condition, None
        logits = self.visual_head(condition)
        return torch.sigmoid(logits), logits

    def forward(self, mixture: Tensor, condition: Tensor | None = None) -> Tensor:
        """Stems ``[B, K, C, L_out]`` of ``mixture [B, C, L_in]`` given detector/label input ``[B, K]``."""
        if condition is not None:
            condition, _ = self.conditioning(condition)
        return self.separator(mixture, condition)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        hp = self.hparams
        condition, logits = self.conditioning(batch["condition"])
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
                sdr = si_sdr(estimate.flatten(-2)[audible], batch["targets"].flatten(-2)[audible])
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
        """Write the separator (and visual head, if any) as a vcsep separator checkpoint."""
        extra = {"global_step": int(self.global_step)}
        if self.visual_head is not None:
            extra["visual_head"] = {k: v.detach().cpu() for k, v in self.visual_head.state_dict().items()}
            extra["visual_hidden"] = int(self.hparams.visual_hidden)
        return save_checkpoint(self.separator, path, **extra)
