"""Separator checkpoints: weights plus the constructor arguments that rebuild the model.

A checkpoint is a plain dict (strings, numbers, tensors) saved with ``torch.save`` and read back with
``torch.load(..., weights_only=True)``, so loading never runs pickled code::

    {"format": "vcsep.separator", "version": 1, "config": {...}, "state_dict": {...}, "extra": {...}}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vcsep.files import atomic_path
from vcsep.fusion.separator import ConditionedSeparator

FORMAT = "vcsep.separator"
VERSION = 1


def save_checkpoint(model: ConditionedSeparator, path: str | os.PathLike, **extra: Any) -> Path:
    """Write ``model`` (weights and constructor arguments) and ``extra`` plain values to ``path``.

    ``extra`` (epoch, metrics, ...) must be what ``weights_only`` loading accepts: numbers, strings,
    lists, dicts, tensors. The file is written under a temporary name and renamed when complete.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dict at ``path``; a ValueError naming the file when it is not one of ours."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{path}: not a readable vcsep checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a vcsep separator checkpoint (no format field {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {payload.get('version')!r}; this vcsep reads {VERSION} "
            "(re-export it with a matching vcsep)"
        )
    return payload


def load_separator(
    path: str | os.PathLike, expect: Mapping[str, Any] | None = None, device: str | torch.device = "cpu"
) -> ConditionedSeparator:
    """Rebuild the separator saved at ``path`` from its stored arguments, in eval mode on ``device``.

    ``expect`` holds constructor arguments the caller relies on (``{"num_sources": 13,
    "sample_rate": 22050}``); any difference raises a ValueError that lists them all.
    """
    payload = read_checkpoint(path)
    config = payload["config"]
    if expect:
        wrong = [
            f"{key}: checkpoint has {config.get(key, '<missing>')!r}, expected {value!r}"
            for key, value in expect.items()
            if config.get(key, "<missing>") != value
        ]
        if wrong:
            raise ValueError(f"{path}: checkpoint does not fit this configuration: {'; '.join(wrong)}")
    model = ConditionedSeparator(**config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit the stored configuration: {err}") from err
    return model.to(device).eval()
