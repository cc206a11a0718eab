"""The conditioned separator: a Wave-U-Net plus one conditioning mechanism at one location.

Locations (the Wave-U-Net's conditioning points): ``input`` (the mixture before the first conv),
``bottleneck`` (the deepest map), ``decoder`` (the output of every decoder level, one conditioning
layer per level) and ``output`` (the features and mixture entering the per-source output convs).
``ConditionedSeparator(None, None)`` (or ``'none'``) is the unconditioned baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vcsep.audio.waveunet import WaveUNet, frames_at, map_positions
from vcsep.fusion.mechanisms import MECHANISM_CLASSES, MECHANISMS

LOCATIONS: tuple[str, ...] = ("input", "bottleneck", "output", "decoder")


def _none(name: str | None) -> str | None:
    return None if name in (None, "none") else name


class ConditionedSeparator(nn.Module):
    """Wave-U-Net conditioned on instrument labels: mixture ``[B, C, L_in]`` -> stems ``[B, K, C, L_out]``.

    Args:
        mechanism: one of :data:`MECHANISMS`, or None / ``'none'`` for the baseline.
        location: one of :data:`LOCATIONS`, or None / ``'none'`` for the baseline.
        **waveunet_args: :class:`~vcsep.audio.waveunet.WaveUNet` arguments (``num_sources`` = K, ...).
    """

    def __init__(self, mechanism: str | None = None, location: str | None = None, **waveunet_args) -> None:
        super().__init__()
        mechanism, location = _none(mechanism), _none(location)
        if (mechanism is None) != (location is None):
            raise ValueError(
                f"give both a mechanism and a location, or neither (baseline): {mechanism!r}, {location!r}"
            )
        if mechanism is not None and mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {mechanism!r}; known: {', '.join(MECHANISMS)}")
        if location is not None and location not in LOCATIONS:
            raise ValueError(f"unknown location {location!r}; known: {', '.join(LOCATIONS)}")
        if "extra_channels" in waveunet_args:
            raise ValueError("extra_channels follows from the mechanism; do not pass it")
        self.mechanism, self.location = mechanism, location
        num_labels = waveunet_args.get("num_sources", 13)
        extra = {location: num_labels} if mechanism == "concat" else {}
        self.unet = WaveUNet(**waveunet_args, extra_channels=extra)
        if mechanism is None:
            levels: list[int] = []
        elif location == "decoder":
            levels = list(range(self.unet.levels))  # conditioners[i] belongs to decoder level i
        else:
            levels = [0]
        self.conditioners = nn.ModuleList(
            MECHANISM_CLASSES[mechanism](num_labels, self.unet.features_at(location, lvl)) for lvl in levels
        )

    @property
    def config(self) -> dict:
        """Constructor arguments (plain values), enough to rebuild the model."""
        unet = {k: v for k, v in self.unet.config.items() if k != "extra_channels"}
        return {"mechanism": self.mechanism, "location": self.location, **unet}

    @property
    def num_sources(self) -> int:
        return self.unet.num_sources

    @property
    def sample_rate(self) -> int:
        return self.unet.sample_rate

    @property
    def channels(self) -> int:
        return self.unet.channels

    @property
    def step(self) -> int:
        return self.unet.step

    def shapes(self, output_length: int) -> tuple[int, int]:
        """(input length, exact output length) in samples for at least ``output_length`` outputs."""
        return self.unet.shapes(output_length)

    def conditioning_parameters(self) -> list[nn.Parameter]:
        """Parameters that read the labels: the mechanism's own, or for concat the consuming convs'."""
        if self.mechanism == "concat":
            return [conv.weight for conv in self.unet.consumers(self.location)]
        return list(self.conditioners.parameters())

    def check_labels(self, labels: Tensor, batch: int) -> None:
        """Raise a ValueError that says what is wrong unless ``labels`` is ``[B, K]`` or ``[B, K, T]``."""
        k = self.num_sources
        if labels.dim() not in (2, 3) or labels.shape[:2] != (batch, k) or labels.shape[-1] == 0:
            raise ValueError(
                f"labels must be [batch={batch}, K={k}] or [batch, K, frames>0], got {tuple(labels.shape)}"
            )
        if not torch.isfinite(labels).all():
            raise ValueError("labels contain NaN or infinite values")

    def forward(self, mix: Tensor, labels: Tensor | None = None) -> Tensor:
        """Separate ``mix [B, C, L_in]`` into stems ``[B, K, C, L_out]``.

        ``labels`` are presence values per slot (multi-hot or probabilities in [0, 1]): clip-level
        ``[B, K]``, or time-varying ``[B, K, T]`` with ``T`` frames spread evenly over the input
        window (resampled to each conditioned map's own time positions). The baseline ignores them.
        """
        if self.mechanism is None:
            return self.unet(mix)
        if labels is None:
            raise ValueError(f"the {self.mechanism} separator at {self.location} needs labels")
        self.check_labels(labels, mix.shape[0])
        length_in = mix.shape[-1]

        def condition(point: str, level: int, x: Tensor) -> Tensor:
            if point != self.location:
                return x
            layer = self.conditioners[level if point == "decoder" else 0]
            if labels.dim() == 2:
                z = labels[:, :, None]
            else:
                z = frames_at(labels, length_in, map_positions(length_in, x.shape[-1], level))
            return layer(x, z)

        return self.unet(mix, condition=condition)
