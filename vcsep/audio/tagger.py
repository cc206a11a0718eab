"""The listening tagger: which instruments play in a mixture, and when, from the audio alone.

A small log-mel CNN. The mixture (channels averaged) is resampled to :data:`SAMPLE_RATE`, turned
into a log-mel spectrogram (``n_mels`` bands, one frame per :data:`HOP` samples = 20 ms), and four
convolution blocks (3x3, batch norm, ReLU; pooling halves frequency every block and time in the
first two) end in a per-frame linear layer: one logit per slot every 80 ms. The frame probability
``sigmoid(logit)`` is the slot's activity; a window's presence is its loudest frame's (max over
time), the pooling it is trained with (:mod:`vcsep.training.tagger`).

It hears what sight cannot tell apart (violin or viola, cello or double bass, oboe or clarinet) and
lets audio-only files be separated; :mod:`vcsep.fusion.labels` combines it with sight.

Long audio is tagged window by window (:data:`WINDOW_S` seconds, the length it trained on), so
memory does not grow with length; a file's presence is the score that at least ``min_fraction``
of its windows reach.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vcsep import vocab
from vcsep.audio.io import resample
from vcsep.weights import check_finite, first_line, load_weights_only

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 320  # 20 ms
TIME_POOL = 4  # frames of the spectrogram per output frame: 80 ms
WINDOW_S = 5.0
BATCH = 8  # windows per forward pass
DEFAULT_MIN_FRACTION = 0.25


def mel_filterbank(
    n_mels: int, n_fft: int = N_FFT, rate: int = SAMPLE_RATE, f_min: float = 30.0
) -> torch.Tensor:
    """Triangular mel filters (HTK mel scale, peak 1): float32 ``[n_mels, n_fft // 2 + 1]``."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    edges = hz(np.linspace(mel(f_min), mel(rate / 2), n_mels + 2))
    bins = np.linspace(0, rate / 2, n_fft // 2 + 1)
    lower = (bins[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - bins[None]) / (edges[2:, None] - edges[1:-1, None])
    return torch.from_numpy(np.maximum(0, np.minimum(lower, upper)).astype(np.float32))


class MelPower(nn.Module):
    """Waveform float32 ``[B, N]`` at :data:`SAMPLE_RATE` -> mel power ``[B, n_mels, N // HOP + 1]``.

    Power, not log: powers of sources add (nearly) in a mixture, which training uses to mix
    precomputed stems; :func:`log_mel` takes the log.
    """

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("filters", mel_filterbank(n_mels), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave, N_FFT, HOP, window=self.window, return_complex=True).abs().pow(2)
        return torch.matmul(self.filters, spec)


def log_mel(power: torch.Tensor, relative: bool = False) -> torch.Tensor:
    """Mel power ``[B, n_mels, F]`` -> log mel (natural log, floor 1e-6: -60 dB re full scale).

    ``relative``: each example's power is first divided by its loudest band and frame, so the log
    mel does not depend on the recording's level (the floor sits 60 dB under that peak)."""
    if relative:
        power = power / power.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return torch.log(power + 1e-6)


class TaggerNet(nn.Module):
    """Log-mel ``[B, n_mels, F]`` -> frame logits ``[B, K, F // TIME_POOL]`` (one per 80 ms).

    ``relative_level``: the net hears log mels relative to each window's peak (:func:`log_mel`), so
    the same music at -45 and at -18 dBFS gets the same labels; False for taggers trained before."""

    def __init__(
        self,
        n_mels: int = 64,
        channels: int = 32,
        codes: tuple[str, ...] = vocab.CODES,
        relative_level: bool = False,
    ) -> None:
        super().__init__()
        self.n_mels, self.channels, self.codes = n_mels, channels, tuple(codes)
        self.relative_level = relative_level
        widths = [1, channels // 2, channels, channels * 2, channels * 2]
        blocks = []
        for i in range(4):
            blocks += [
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(widths[i + 1]),
                nn.ReLU(inplace=True),
                nn.MaxPool2d((2, 2) if i < 2 else (2, 1)),
            ]
        self.conv = nn.Sequential(*blocks)
        self.frames = nn.Conv1d(widths[-1] * (n_mels // 16), 2 * channels, 3, padding=1)
        self.out = nn.Conv1d(2 * channels, len(self.codes), 1)
        self.norm = nn.BatchNorm1d(n_mels)  # per-band input normalisation, learned from the data

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        b, _, f = logmel.shape
        f = f - f % TIME_POOL
        x = self.conv(self.norm(logmel[..., :f]).unsqueeze(1))  # [B, C, n_mels/16, F/4]
        x = F.relu(self.frames(x.flatten(1, 2)))
        return self.out(x)

    def config(self) -> dict:
        return {
            "n_mels": self.n_mels,
            "channels": self.channels,
            "codes": list(self.codes),
            "relative_level": self.relative_level,
        }


@dataclass(frozen=True)
class Tags:
    """What the tagger hears in one recording.

    Attributes:
        presence: float32 ``[K]`` in [0, 1] per code of ``codes``.
        activity: float32 ``[K, T]`` in [0, 1], ``T = ceil(duration x rate_hz)``, column ``j``
            covering ``[j / rate_hz, (j + 1) / rate_hz)`` seconds.
        rate_hz: columns of ``activity`` per second.
        codes: the slot of each row.
    """

    presence: np.ndarray
    activity: np.ndarray
    rate_hz: float
    codes: tuple[str, ...]


class Tagger:
    """A trained :class:`TaggerNet` with its mel front end, for tagging recordings.

    Args:
        net: the network (eval mode is set here).
        device: torch device string.
    """

    def __init__(self, net: TaggerNet, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.mel = MelPower(net.n_mels).to(device)
        self.device = device

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Tagger:
        """Read a :meth:`save` file (weights-only).

        Raises:
            ValueError: missing, not weights-only, or not a tagger; the message names the file.
        """
        path = Path(path)
        data = load_weights_only(path, "tagger")
        try:
            net = TaggerNet(**{**data["config"], "codes": tuple(data["config"]["codes"])})
            net.load_state_dict(data["state_dict"])
        except Exception as err:  # key, type and shape errors alike: the file is the problem
            reason = f"{type(err).__name__}: {first_line(err)}"
            raise ValueError(f"{path}: not a vcsep tagger ({reason})") from None
        check_finite(data["state_dict"], path)
        return cls(net, device)

    def save(self, path: str | Path, **record) -> None:
        """Write config, weights and a JSON-able ``record`` of how it was trained, atomically."""
        from vcsep.files import atomic_path

        with atomic_path(path) as tmp:
            torch.save(
                {"config": self.net.config(), "state_dict": self.net.state_dict(), "record": record}, tmp
            )

    @property
    def codes(self) -> tuple[str, ...]:
        return self.net.codes

    def _windows(self, audio: np.ndarray | Iterable[np.ndarray], sample_rate: int) -> Iterator[np.ndarray]:
        """Mono 16 kHz windows of :data:`WINDOW_S` seconds (the last one shorter) from float32
        ``[C, N]`` audio or an iterable of ``[C, n]`` blocks at ``sample_rate`` Hz."""
        blocks = [audio] if isinstance(audio, np.ndarray) else audio
        step = int(round(WINDOW_S * sample_rate))
        pending: list[np.ndarray] = []
        held = 0
        for block in blocks:
            mono = np.asarray(block, dtype=np.float32).mean(0)
            pending.append(mono)
            held += len(mono)
            while held >= step:
                joined = np.concatenate(pending)
                yield resample(joined[None, :step], sample_rate, SAMPLE_RATE)[0]
                pending, held = [joined[step:]], held - step
        if held or not step:
            yield resample(np.concatenate(pending)[None], sample_rate, SAMPLE_RATE)[0]

    def frame_probabilities(self, audio: np.ndarray | Iterable[np.ndarray], sample_rate: int) -> np.ndarray:
        """Per-slot probability every 80 ms of ``audio`` at ``sample_rate`` Hz: float32 ``[C, N]``, or
        an iterable of ``[C, n]`` blocks (a stream: memory stays one window whatever the length).

        Returns float32 ``[K, ceil(N' / (HOP * TIME_POOL))]`` (``N'``: samples at 16 kHz), computed
        :data:`WINDOW_S` seconds at a time.
        """
        return self._frames(audio, sample_rate)[0]

    @torch.inference_mode()
    def _frames(self, audio: np.ndarray | Iterable[np.ndarray], sample_rate: int) -> tuple[np.ndarray, float]:
        """:meth:`frame_probabilities` and the audio's duration in seconds."""
        out, samples, batch = [], 0, []
        windows = self._windows(audio, sample_rate)
        for window in itertools.chain(windows, [None]):
            if window is not None:
                samples += len(window)
                batch.append(window)
            # full windows go through the net :data:`BATCH` at a time (small convolutions pay a
            # thread start-up per call); a short last window goes alone
            if batch and (window is None or len(batch) == BATCH or len(batch[-1]) != len(batch[0])):
                last = batch.pop() if len(batch[-1]) != len(batch[0]) else None
                for group in (batch, [last] if last is not None else []):
                    if group:
                        out.extend(self._run(group))
                batch = []
        frames = np.concatenate(out, axis=1) if out else np.zeros((len(self.codes), 0), dtype=np.float32)
        return frames, samples / SAMPLE_RATE

    @torch.inference_mode()
    def _run(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """Frame probabilities ``[K, ceil(n / 1280)]`` of equal-length 16 kHz windows, in one pass."""
        n_out = math.ceil(len(windows[0]) / (HOP * TIME_POOL))
        chunk = torch.from_numpy(np.stack(windows)).to(self.device)
        # pad to whole output frames (and past the STFT's minimum length) with silence
        chunk = F.pad(chunk, (0, n_out * HOP * TIME_POOL + N_FFT - chunk.shape[1]))
        logmel = log_mel(self.mel(chunk), self.net.relative_level)
        probs = self.net(logmel)[:, :, :n_out].sigmoid().float().cpu().numpy()
        return list(probs)

    def tag(
        self,
        audio: np.ndarray | Iterable[np.ndarray],
        sample_rate: int,
        *,
        rate_hz: float = 4.0,
        min_fraction: float = DEFAULT_MIN_FRACTION,
    ) -> Tags:
        """Presence and activity of each slot in ``audio`` at ``sample_rate`` Hz (float32 ``[C, N]``
        or an iterable of ``[C, n]`` blocks, see :meth:`frame_probabilities`).

        Presence: each :data:`WINDOW_S`-second window's max over its frames (what the net was
        trained to call presence), then the value at least ``min_fraction`` of the windows reach.
        Activity: frame probabilities averaged into ``rate_hz`` columns.
        """
        frames, duration = self._frames(audio, sample_rate)
        per_window = int(round(WINDOW_S * SAMPLE_RATE / (HOP * TIME_POOL)))
        n_windows = max(1, math.ceil(frames.shape[1] / per_window))
        window_max = np.stack(
            [frames[:, i * per_window : (i + 1) * per_window].max(1, initial=0.0) for i in range(n_windows)],
            axis=1,
        )
        presence = np.quantile(window_max, 1 - min_fraction, axis=1).astype(np.float32)
        frame_rate = SAMPLE_RATE / (HOP * TIME_POOL)
        n_cols = max(1, math.ceil(duration * rate_hz - 1e-9))
        col = np.minimum((np.arange(frames.shape[1]) / frame_rate * rate_hz).astype(int), n_cols - 1)
        sums = np.zeros((len(self.codes), n_cols), dtype=np.float64)
        np.add.at(sums.T, col, frames.T)
        counts = np.bincount(col, minlength=n_cols)
        activity = (sums / np.maximum(counts, 1)).astype(np.float32)
        return Tags(presence, activity, rate_hz, self.codes)
