"""Conditioning mechanisms: how a label map ``z [B, K, n]`` changes a feature map ``x [B, F, n]``.

``z`` is the label vector resampled to the map (``n = 1`` for clip-level labels: it broadcasts over
time). Each layer maps ``z`` to per-channel, per-time-step terms with a 1x1 convolution (a linear
layer over the label axis). Scales are parametrised as ``1 + W z`` so that an all-zero label (and
the zero-mean start of training) leaves the features unchanged rather than silencing them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Concat(nn.Module):
    """Append the K label channels to the features: ``[B, F, n]`` -> ``[B, F + K, n]``.

    The parameters that read the labels are the consuming layer's extra input channels
    (see :meth:`vcsep.audio.waveunet.WaveUNet.consumers`).
    """

    def __init__(self, num_labels: int, features: int) -> None:
        super().__init__()

    @staticmethod
    def extra_channels(num_labels: int) -> int:
        """Channels this mechanism adds to the map it conditions (the consumer is sized for them)."""
        return num_labels

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return torch.cat([x, z.expand(-1, -1, x.shape[-1]).to(x.dtype)], dim=1)


class _Projected(nn.Module):
    """Base of the mechanisms that project the labels to ``terms`` values per feature channel."""

    terms = 1

    def __init__(self, num_labels: int, features: int) -> None:
        super().__init__()
        self.features = features
        self.proj = nn.Conv1d(num_labels, self.terms * features, 1)

    @staticmethod
    def extra_channels(num_labels: int) -> int:
        """Channels this mechanism adds to the map it conditions: none, it changes them in place."""
        return 0

    def project(self, z: Tensor) -> Tensor:
        return self.proj(z.to(self.proj.weight.dtype))


class Additive(_Projected):
    """Add a label-dependent bias per channel: ``x + W z + b``."""

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return x + self.project(z)


class Multiplicative(_Projected):
    """Scale each channel by a label-dependent gain: ``x * (1 + W z + b)``."""

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return x * (1 + self.project(z))


class FiLM(_Projected):
    """Feature-wise linear modulation (Perez et al. 2018): ``x * (1 + gamma(z)) + beta(z)``."""

    terms = 2

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        gamma, beta = self.project(z).split(self.features, dim=1)
        return torch.addcmul(beta, x, 1 + gamma)


MECHANISM_CLASSES: dict[str, type[nn.Module]] = {
    "concat": Concat,
    "additive": Additive,
    "multiplicative": Multiplicative,
    "film": FiLM,
}
MECHANISMS: tuple[str, ...] = tuple(MECHANISM_CLASSES)
