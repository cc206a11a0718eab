"""Conditioning mechanisms, where they attach in the Wave-U-Net, and the conditioned separator."""

from vcsep.fusion.checkpoint import load_separator, read_checkpoint, save_checkpoint
from vcsep.fusion.mechanisms import MECHANISMS
from vcsep.fusion.separator import CELLS, LOCATIONS, ConditionedSeparator
from vcsep.fusion.visual import VisualHead

__all__ = [
    "CELLS", "LOCATIONS", "MECHANISMS", "ConditionedSeparator", "VisualHead", "load_separator",
    "read_checkpoint", "save_checkpoint",
]
