"""Waveform files and resampling: audio arrays are float32 ``[C, N]`` (channels, samples) in [-1, 1]."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vcsep.files import atomic_path


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file: (float32 ``[C, N]``, sample rate in Hz); errors name the file."""
    path = Path(path)
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot read audio ({err})") from err
    return np.ascontiguousarray(data.T), int(sr)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float ``[C, N]`` audio to ``path`` (format from the suffix), whole or not at all."""
    path = Path(path)
    audio = np.asarray(audio)
    if audio.ndim != 2:
        raise ValueError(f"{path}: audio to write must be [channels, samples], got shape {audio.shape}")
    with atomic_path(path) as tmp:
        sf.write(tmp, audio.T, int(sample_rate))
    return path


def resample(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Resample float ``[C, N]`` audio from ``sr_from`` to ``sr_to`` Hz with soxr (HQ): ``[C, N']``."""
    audio = np.asarray(audio, dtype=np.float32)
    if sr_from == sr_to:
        return audio
    return np.ascontiguousarray(soxr.resample(audio.T, sr_from, sr_to, quality="HQ").T)


def at_level(audio: np.ndarray, dbfs: float) -> np.ndarray:
    """``audio`` (float ``[C, N]``) scaled to an RMS of ``dbfs`` dB re full scale: float32 ``[C, N]``
    (silence stays silent)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if np.size(audio) else 0.0
    return (np.asarray(audio) * (10 ** (dbfs / 20) / rms if rms > 0 else 0.0)).astype(np.float32)


def window(audio: np.ndarray, start: int, length: int) -> np.ndarray:
    """``audio[:, start:start+length]`` of ``[C, N]`` audio as float32 ``[C, length]``, zero-padded
    where it reaches before sample 0 or past the end."""
    out = np.zeros((audio.shape[0], length), dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, audio.shape[1])
    if hi > lo:
        out[:, lo - start : hi - start] = audio[:, lo:hi]
    return out


def match_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """``audio [C, N]`` as ``channels`` (1 or 2) channels: any number of channels (stereo, 5.1,
    7.1...) averages to mono; mono is copied to both sides of stereo, and more than two channels
    average to mono first (their positions are not known in general)."""
    if channels not in (1, 2):
        raise ValueError(f"can only make 1 or 2 channels, asked for {channels}")
    if audio.shape[0] == channels:
        return audio
    mono = audio.mean(axis=0, keepdims=True, dtype=np.float32)
    return mono if channels == 1 else np.repeat(mono, 2, axis=0)


def finite_blocks(
    blocks: Iterable[np.ndarray], sample_rate: int, name: object = None
) -> Iterator[np.ndarray]:
    """Pass float ``[C, n]`` blocks of audio at ``sample_rate`` Hz through; at the first NaN or
    infinite sample, a ValueError giving its time (s), prefixed with ``name`` (the file) when given."""
    seen = 0
    for block in blocks:
        bad = ~np.isfinite(block)
        if bad.any():
            at = (seen + int(np.argwhere(bad)[0][1])) / sample_rate
            prefix = f"{name}: " if name is not None else ""
            raise ValueError(f"{prefix}the audio has NaN or infinite samples (first at {at:.3f} s)")
        seen += block.shape[1]
        yield block
