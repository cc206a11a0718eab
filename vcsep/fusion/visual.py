"""The visual head: what the detector saw -> what the separator is told."""

from __future__ import annotations

from torch import Tensor, nn

from vcsep.fusion.capture import capture_init


@capture_init
class VisualHead(nn.Module):
    """Maps detector presence probabilities ``[B, K]`` to conditioning logits ``[B, K]``.

    Trained jointly with the separator (an auxiliary presence loss supervises it): it learns how far
    to trust each detector class and fills in instruments the detector cannot see.
    """

    def __init__(self, num_labels: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(num_labels, hidden), nn.ReLU(), nn.Linear(hidden, num_labels))

    def forward(self, detections: Tensor) -> Tensor:
        return self.net(detections)
