"""Separating recordings of any length with a Wave-U-Net-style separator.

The separator's output length is free (valid lengths step by ``model.step`` samples: ``2**levels``
for the Wave-U-Net, one BiLSTM chunk for the Demucs-style net), and every window needs the same
``context`` samples around its output whatever its length, so long windows make that overhead
vanish. Windows start at multiples of ``model.step`` output samples, where the network is exactly
shift-equivariant, so :func:`separate_long` computes the same samples as the plain tiling at the
training size (:func:`separate_tiled`), up to float rounding. Context comes from
the neighbouring audio; zeros only before the start and after the end.

``model`` is a :class:`vcsep.fusion.ConditionedSeparator`, a :class:`~vcsep.audio.waveunet.WaveUNet`
or a :class:`~vcsep.audio.demucs.DemucsUNet` (anything with ``shapes``, ``step``, ``channels``,
``num_sources``, ``sample_rate``, called as ``model(mix)`` or ``model(mix, labels)``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator

import numpy as np
import soxr
import torch
from torch import Tensor

from vcsep.audio.io import finite_blocks, resample, window
from vcsep.audio.waveunet import labels_at

# Time-varying labels reach each window as a track with one frame per this many input samples
# (0.7 ms at 22050 Hz, far finer than any video frame rate).
LABEL_HOP = 16
TRAINING_OUTPUT = 16384  # the paper's requested output length per training example
# Arithmetic of the forward pass: "32" (float32, exact), or "bf16" (convolutions in bfloat16 under
# autocast; about 1.8x faster on CPUs with AVX512-BF16 or AMX, stems within ~1e-2 of float32).
PRECISIONS = ("32", "bf16")
# Output samples whose mixture stays below SILENCE (peak, -90 dBFS: within one 16-bit step of zero)
# for SILENCE_RADIUS samples around them are silent, whatever the network's biases make of them.
SILENCE = 10 ** (-90 / 20)
SILENCE_RADIUS = 256


def check_precision(precision: str) -> None:
    """``ValueError`` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def _as_array(value: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _prepare(
    model, audio: np.ndarray | Tensor, sample_rate: int, labels: np.ndarray | Tensor | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate, then resample to the model's rate: (``[C, N']`` float32, labels ``[K]``/``[K, T]``/None)."""
    audio = _as_array(audio)
    if audio.ndim != 2:
        raise ValueError(f"audio must be [channels, samples], got shape {audio.shape}")
    if audio.shape[0] != model.channels:
        raise ValueError(
            f"the model separates {model.channels}-channel audio, this audio has {audio.shape[0]} channel(s)"
        )
    if audio.shape[1] == 0:
        raise ValueError("audio is empty (0 samples)")
    bad = ~np.isfinite(audio)
    if bad.any():
        channel, sample = np.argwhere(bad)[0]
        raise ValueError(
            f"audio has {int(bad.sum())} NaN or infinite samples (first: channel {channel}, sample {sample})"
        )
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    if labels is not None:
        labels = _as_array(labels)
        if labels.ndim not in (1, 2) or labels.shape[0] != model.num_sources or labels.shape[-1] == 0:
            raise ValueError(
                f"labels must be [K={model.num_sources}] or [K, frames>0] over the whole audio, "
                f"got shape {labels.shape}"
            )
        if not np.isfinite(labels).all():
            raise ValueError("labels contain NaN or infinite values")
    return resample(audio, sample_rate, model.sample_rate), labels


def _window_labels(labels: np.ndarray, total: int, start: int, length: int) -> np.ndarray:
    """Labels for a window of ``length`` input samples at ``start``: ``[K]``, or ``[K, T_w]`` frames."""
    if labels.ndim == 1:
        return labels
    frames = math.ceil(length / LABEL_HOP)
    centres = start + (torch.arange(frames, dtype=torch.float64) + 0.5) * (length / frames) - 0.5
    return labels_at(torch.from_numpy(labels), total, centres).numpy()


def _audible(mix: Tensor, left: int, n: int) -> Tensor:
    """Which of the ``n`` output samples at ``left`` of a window ``mix [B, C, L_in]`` have sound
    within :data:`SILENCE_RADIUS` samples: bool ``[B, n]``.

    The radius never reaches past the window's own context, so the answer depends on the absolute
    position only, never on how the audio was cut into windows.
    """
    radius = min(SILENCE_RADIUS, left)
    loud = mix.abs().amax(dim=1, keepdim=True).float()
    near = torch.nn.functional.max_pool1d(loud[..., left - radius : left + n + radius], 2 * radius + 1, 1)
    return near[:, 0] >= SILENCE


def _run_windows(
    model,
    windows: Iterable[tuple[np.ndarray, np.ndarray | None, int]],
    left: int,
    batch_size: int,
    device,
    precision: str,
) -> Iterator[np.ndarray]:
    """Separate ``(mix [C, L_in], labels [K] / [K, T_w] / None, n)`` windows, ``batch_size`` per forward
    call; yield each window's first ``n`` output samples ``[K, C, n]``, in order, silent (exactly 0)
    where the mixture is (a bias of the network must not turn silence into noise). An output with
    NaN or infinite values raises a ValueError."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_precision(precision)
    autocast = torch.autocast(torch.device(device).type, torch.bfloat16, enabled=precision == "bf16")
    windows = iter(windows)
    with torch.inference_mode(), autocast:
        while group := list(itertools.islice(windows, batch_size)):
            mix = torch.from_numpy(np.stack([w[0] for w in group])).to(device)
            if group[0][1] is None:
                stems = model(mix)
            else:
                stems = model(mix, torch.from_numpy(np.stack([w[1] for w in group])).to(device))
            if not torch.isfinite(stems).all():  # broken weights: never write garbage stems
                raise ValueError("the separator's output has NaN or infinite values (broken weights?)")
            audible = _audible(mix, left, stems.shape[-1])
            stems = (stems.float() * audible[:, None, None, :]).cpu().numpy()
            for stem, (_, _, n) in zip(stems, group):
                yield stem[..., :n]


def _batches(
    model,
    audio: np.ndarray,
    labels: np.ndarray | None,
    hop: int,
    batch_size: int,
    device,
    progress: bool,
    precision: str,
) -> Iterator[np.ndarray]:
    """Run windows whose outputs start every ``hop`` samples; yield ``[K, C, n]`` output chunks in order.

    Only ``batch_size`` windows are in memory at a time, whatever the audio length.
    """
    length_in, length_out = model.shapes(hop)
    left = (length_in - length_out) // 2
    total = audio.shape[1]
    starts = range(0, total, hop)
    windows = (
        (
            window(audio, s - left, length_in),
            None if labels is None else _window_labels(labels, total, s - left, length_in),
            min(hop, total - s),
        )
        for s in starts
    )
    if progress:
        from tqdm.auto import tqdm

        windows = tqdm(windows, total=len(starts), unit="window", desc="separating")
    yield from _run_windows(model, windows, left, batch_size, device, precision)


def separate_stream(
    model,
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    labels: np.ndarray | Tensor | None = None,
    expected_length: int | None = None,
    window_output: int = 2**19,
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    progress: bool = False,
    precision: str = "32",
) -> Iterator[np.ndarray]:
    """Separate audio that arrives as float32 ``[C, n]`` blocks at ``sample_rate`` Hz; yield the stems
    as ``[K, C, m]`` chunks at ``sample_rate``, in order, as soon as they are known.

    The same samples as :func:`separate_long` (windows at multiples of ``model.step``, up to float
    rounding), but neither the input nor the stems are ever held whole: memory is that of one
    window, whatever the length. ``expected_length`` (samples at ``sample_rate``, e.g. from the
    container's duration) spreads the audio evenly over windows as :func:`separate_long` does;
    without it windows are ``window_output`` long. ``labels`` is ``[K]`` or None (time-varying
    labels need the whole length up front: use :func:`separate_long`). A block with NaN or
    infinite samples raises a ValueError giving the time (s) of the first one.
    """
    if labels is not None:
        labels = _as_array(labels)
        if labels.shape != (model.num_sources,) or not np.isfinite(labels).all():
            raise ValueError(
                f"labels must be [K={model.num_sources}] finite values, got shape {labels.shape}"
            )
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    ratio = model.sample_rate / sample_rate
    step = model.step
    if expected_length:
        inner = math.ceil(expected_length * ratio)
        windows = math.ceil(inner / max(window_output, step))
        hop = math.ceil(inner / windows / step) * step
    else:
        hop = max(window_output // step, 1) * step
    length_in, length_out = model.shapes(hop)
    left = (length_in - length_out) // 2
    channels, k = model.channels, model.num_sources
    to_model = soxr.ResampleStream(sample_rate, model.sample_rate, channels, quality="HQ")
    back = soxr.ResampleStream(model.sample_rate, sample_rate, k * channels, quality="HQ")
    seen = [0]  # input samples read so far, at sample_rate

    def checked() -> Iterator[np.ndarray]:
        for block in blocks:
            block = _as_array(block)
            if block.ndim != 2 or block.shape[0] != channels:
                raise ValueError(f"blocks must be [{channels}, n] (the model's channels), got {block.shape}")
            yield block

    def model_rate_input() -> Iterator[np.ndarray]:
        for block in finite_blocks(checked(), sample_rate):
            seen[0] += block.shape[1]
            yield block if ratio == 1 else to_model.resample_chunk(np.ascontiguousarray(block.T)).T
        if seen[0] == 0:
            raise ValueError("the audio is empty (0 samples)")
        if ratio != 1:
            yield to_model.resample_chunk(np.zeros((0, channels), np.float32), last=True).T

    def windows() -> Iterator[tuple[np.ndarray, np.ndarray | None, int]]:
        # buffer holds the model-rate input from absolute sample `offset` on; zeros outside it
        source, buffer, offset, ended, start = (
            model_rate_input(),
            np.zeros((channels, 0), np.float32),
            0,
            False,
            0,
        )
        while True:
            # gather the blocks the window needs, then join them once (not block by block: that
            # copied the buffer a thousand times a window and fragmented the heap)
            pending, have = [buffer], offset + buffer.shape[1]
            while not ended and have < start - left + length_in:
                block = next(source, None)
                ended = block is None
                if not ended:
                    pending.append(block)
                    have += block.shape[1]
            buffer = np.concatenate(pending, axis=1) if len(pending) > 1 else buffer
            total = offset + buffer.shape[1]
            if ended and start >= total:
                return
            yield window(buffer, start - left - offset, length_in), labels, min(hop, total - start)
            start += hop
            cut = max(start - left - offset, 0)
            buffer, offset = buffer[:, cut:], offset + cut

    chunks = _run_windows(model, windows(), left, batch_size, device, precision)
    if progress:
        from tqdm.auto import tqdm

        total = math.ceil(expected_length * ratio / hop) if expected_length else None
        chunks = tqdm(chunks, total=total, unit="window", desc="separating")
    emitted = 0
    for chunk in itertools.chain(chunks, [None]):
        if ratio == 1:
            piece = chunk
        else:  # back to the input's rate, window by window
            frames = (
                np.zeros((0, k * channels), np.float32)
                if chunk is None
                else chunk.reshape(k * channels, -1).T
            )
            piece = back.resample_chunk(np.ascontiguousarray(frames), last=chunk is None).T.reshape(
                k, channels, -1
            )
            piece = piece[..., : seen[0] - emitted]  # soxr may end a sample or two long or short
        if piece is not None and piece.shape[-1]:
            emitted += piece.shape[-1]
            yield np.ascontiguousarray(piece)
    if emitted < seen[0]:
        yield np.zeros((k, channels, seen[0] - emitted), np.float32)


def separate_long(
    model,
    audio: np.ndarray | Tensor,
    sample_rate: int,
    labels: np.ndarray | Tensor | None = None,
    window_output: int = 2**19,
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    progress: bool = False,
    out: np.ndarray | None = None,
    precision: str = "32",
) -> np.ndarray:
    """Separate ``audio [C, N]`` at ``sample_rate`` Hz into stems ``[K, C, N]`` at the same rate.

    Args:
        model: the separator, already on ``device``.
        labels: ``[K]`` for the whole recording, ``[K, T]`` frames spread evenly over it, or None.
        window_output: about the most output samples per window at the model's rate; the audio is
            spread evenly over as few windows as that allows (in multiples of ``model.step``). The
            2**19 default (24 s at 22050 Hz) costs 12 % more FLOPs than an endless window would,
            holds ~0.45 GB (paper-size model, mono, batch 1) and ran faster on 2 CPU cores than
            2**20 (0.042 vs 0.047 s per audio second: its maps stay in cache).
        batch_size: windows per forward call; activation memory grows with it, not with N.
        progress: show a tqdm progress bar over windows.
        out: optional preallocated ``[K, C, N]`` float32 array (e.g. a ``np.memmap`` for hours of
            audio) to write the stems into.
        precision: one of :data:`PRECISIONS`; stems are float32 either way.
    """
    audio_in, labels = _prepare(model, audio, sample_rate, labels)
    n = audio.shape[-1]
    shape = (model.num_sources, model.channels, n)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    # Spread the audio evenly over as few windows as window_output allows, so that a short file or
    # a last partial window does not compute mostly padding.
    windows = math.ceil(audio_in.shape[1] / max(window_output, model.step))
    hop = math.ceil(audio_in.shape[1] / windows / model.step) * model.step
    chunks = _batches(model, audio_in, labels, hop, batch_size, device, progress, precision)
    if sample_rate == model.sample_rate:
        pos = 0
        for chunk in chunks:
            out[..., pos : pos + chunk.shape[-1]] = chunk
            pos += chunk.shape[-1]
        return out
    # Resample back window by window, so no second full-length copy of the stems exists.
    stream = soxr.ResampleStream(model.sample_rate, sample_rate, shape[0] * shape[1], quality="HQ")
    pos = 0
    for chunk in [*chunks, None]:
        if chunk is None:
            frames = np.zeros((0, shape[0] * shape[1]), np.float32)
        else:
            frames = chunk.reshape(-1, chunk.shape[-1]).T
        piece = stream.resample_chunk(np.ascontiguousarray(frames), last=chunk is None)
        piece = piece.T.reshape(shape[0], shape[1], -1)[..., : n - pos]
        out[..., pos : pos + piece.shape[-1]] = piece
        pos += piece.shape[-1]
    out[..., pos:] = 0  # soxr may come up a sample or two short of the exact length
    return out


def separate_tiled(
    model,
    audio: np.ndarray | Tensor,
    sample_rate: int,
    labels: np.ndarray | Tensor | None = None,
    output_length: int = TRAINING_OUTPUT,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool = False,
    precision: str = "32",
) -> np.ndarray:
    """Reference: plain tiling with training-size windows (``output_length`` requested), ``[K, C, N]``.

    Tiles start every ``output_length`` samples (rounded down to a multiple of ``model.step``, where
    the network is shift-equivariant); the few extra output samples of each tile are dropped.
    """
    audio_in, labels = _prepare(model, audio, sample_rate, labels)
    hop = max(output_length // model.step, 1) * model.step
    chunks = _batches(model, audio_in, labels, hop, batch_size, device, progress, precision)
    stems = np.concatenate(list(chunks), axis=-1)
    if sample_rate == model.sample_rate:
        return stems
    k, c, _ = stems.shape
    back = resample(stems.reshape(k * c, -1), model.sample_rate, sample_rate)
    return window(back, 0, audio.shape[-1]).reshape(k, c, -1)
