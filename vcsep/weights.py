"""Reading weights files without running code, and refusing broken weights.

Every weights file vcsep reads (separator, tagger, recogniser head, backbone, training checkpoint)
goes through :func:`load_weights_only`, so each kind of bad file gets the same one-line error naming
it; :func:`check_finite` refuses weights that hold NaN or infinity (a diverged or damaged model
separates into garbage without any other sign).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

# What a torch.save file starts with: a zip archive (the format since PyTorch 1.6), or the pickle
# protocol opcode of the legacy format.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def load_weights_only(path: str | os.PathLike, what: str = "weights file", mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU (memory-mapped with ``mmap``), with
    errors that name the file and call it ``what`` (``"checkpoint"``, ``"tagger"``...).

    A folder, a missing file, a file that is no ``torch.save`` file at all (JSON, text, an image...),
    a truncated or damaged one, and one that holds Python objects other than tensors and plain
    values (which could run code) each raise one line saying so (a ValueError, IsADirectoryError or
    FileNotFoundError); PyTorch's advice to retry with ``weights_only=False`` is left out, because
    that would run whatever code the file carries.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a {what}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    with open(path, "rb") as file:
        head = file.read(4)
    if not head.startswith(_TORCH_MAGIC):
        raise ValueError(f"{path}: not a {what}: not a PyTorch file (neither a torch.save zip nor a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if str(err).startswith("Weights only load failed"):
            raise ValueError(
                f"{path}: refused: it holds Python objects other than weights and plain values, and "
                "loading them could run code"
            ) from None
        raise ValueError(f"{path}: not a readable {what} ({first_line(err)})") from None
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{path}: not a readable {what} ({first_line(err)})") from None


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): PyTorch's
    errors go on for lines of advice."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def check_finite(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """A ValueError naming ``path`` when a floating-point tensor of the state dict ``state`` holds
    NaN or infinite values (the first few such tensors named)."""
    bad = [
        name
        for name, tensor in state.items()
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not tensor.isfinite().all()
    ]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ValueError(
            f"{path}: refused: {len(bad)} weight tensors hold NaN or infinite values ({shown}); "
            "the file is broken (a diverged training run?)"
        )
