"""Separator checkpoints: weights plus the constructor arguments that rebuild the whole model.

A checkpoint is a plain dict (strings, numbers, lists, tensors) saved with ``torch.save`` and read
back with ``torch.load(..., weights_only=True)``, so loading never runs pickled code::

    {"format": "vcsep.separator", "version": 2,
     "config": {"sources": ["vn", "va", ...], "mechanism": "film", ...},   # ConditionedSeparator(**config)
     "state_dict": {...},            # the separator's weights, its visual head's included
     "extra": {...}}                 # plain values: global step, metrics...

Version 1 (vcsep 0.1) stored ``num_sources`` instead of the source codes and the visual head in
``extra``; it is read as the 13 URMP instruments, with the head moved into the model.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vcsep.files import atomic_path
from vcsep.fusion.separator import ConditionedSeparator
from vcsep.vocab import URMP
from vcsep.weights import check_finite, load_weights_only

FORMAT = "vcsep.separator"
VERSION = 2
READABLE_VERSIONS = (1, 2)


def save_checkpoint(model: ConditionedSeparator, path: str | os.PathLike, **extra: Any) -> Path:
    """Write ``model`` (weights and constructor arguments) and ``extra`` plain values to ``path``.

    ``extra`` (global step, metrics, ...) must be what ``weights_only`` loading accepts: numbers,
    strings, lists, dicts, tensors. The file is written whole or not at all.
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


def _upgrade_v1(payload: dict, path: Path) -> dict:
    """A version-1 payload as version 2: the 13 URMP codes for ``num_sources``, the head inside."""
    config = dict(payload["config"])
    num_sources = config.pop("num_sources", len(URMP))
    if num_sources != len(URMP):
        raise ValueError(
            f"{path}: a version-1 checkpoint with {num_sources} sources names none of them; "
            "re-export it with this vcsep, giving the model its sources"
        )
    config["sources"] = list(URMP.codes)
    state = dict(payload["state_dict"])
    extra = dict(payload.get("extra") or {})
    if "visual_head" in extra:
        config["visual_hidden"] = int(extra.pop("visual_hidden"))
        state.update({f"visual_head.{k}": v for k, v in extra.pop("visual_head").items()})
    return {**payload, "version": VERSION, "config": config, "state_dict": state, "extra": extra}


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dict at ``path`` (as version 2), after checking its structure.

    Raises a ValueError naming the file and listing every problem: not a vcsep separator, another
    format version, a config that is not a dict or has keys the separator does not take, a missing
    or malformed ``state_dict``.
    """
    path = Path(path)
    payload = load_weights_only(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a vcsep separator checkpoint (no format field {FORMAT!r})")
    if payload.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: checkpoint format version {payload.get('version')!r}; this vcsep reads "
            f"{', '.join(map(str, READABLE_VERSIONS))} (re-export it with a matching vcsep)"
        )
    problems = []
    config, state, extra = payload.get("config"), payload.get("state_dict"), payload.get("extra", {})
    if not isinstance(config, dict):
        problems.append(f"config must be a dict, found {type(config).__name__}")
    if state is None:
        problems.append("no state_dict (the weights)")
    elif not isinstance(state, dict) or not state:
        problems.append("state_dict must be a non-empty dict")
    elif not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        problems.append("state_dict must map parameter names to tensors")
    if not isinstance(extra, dict):
        problems.append(f"extra must be a dict, found {type(extra).__name__}")
    if isinstance(config, dict):
        known = set(inspect.signature(ConditionedSeparator.__init__).parameters) - {"self"}
        known |= {"num_sources"} if payload["version"] == 1 else set()
        unknown = sorted(set(config) - known)
        if unknown:
            problems.append(f"config has unknown keys {unknown} (known: {', '.join(sorted(known))})")
    if problems:
        raise ValueError(f"{path}: malformed vcsep checkpoint: {'; '.join(problems)}")
    return _upgrade_v1(payload, path) if payload["version"] == 1 else payload


def load_separator(
    path: str | os.PathLike, expect: Mapping[str, Any] | None = None, device: str | torch.device = "cpu"
) -> ConditionedSeparator:
    """Rebuild the separator saved at ``path`` (visual head included) in eval mode on ``device``.

    ``expect`` holds constructor arguments the caller relies on (``{"sample_rate": 22050,
    "sources": ["vocals", ...]}``); any difference raises a ValueError that lists them all.
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
    try:
        model = ConditionedSeparator(**config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: the stored config does not build a separator ({err})") from err
    check_finite(payload["state_dict"], path)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit the stored configuration: {err}") from err
    return model.to(device).eval()
