"""Input-chain augmentation: the mixture as real inputs arrive (band-limited, through AAC or MP3,
at another level), for training on synthetic stems.

Only what the separator hears is degraded: band limits and codecs touch the mixture alone (the
targets stay the clean stems, which is what the separator must give back); a level change scales
mixture and targets together. Every choice comes from the caller's generator, so an example stays
a pure function of its seed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import soxr

# encoder delay search range when realigning a codec's output (AAC primes 1024-2112 samples)
_MAX_DELAY = 4096


@dataclass(frozen=True)
class InputChain:
    """Chances and ranges of each degradation (applied in this order, each independently).

    ``band_limit``: chance of resampling through a lower rate (``rates``, Hz) and back, as 16 kHz
    recordings and telephone-grade uploads are; ``codec``: chance of an AAC (videos carry AAC) or
    MP3 round trip at a bitrate from ``bitrates`` (bit/s); ``level_db``: range of a gain in dB.
    """

    band_limit: float = 0.3
    rates: tuple[int, ...] = (8000, 11025, 16000, 22050, 32000)
    codec: float = 0.3
    codecs: tuple[str, ...] = ("aac", "mp3")
    bitrates: tuple[int, ...] = (48000, 64000, 96000, 128000)
    level_db: tuple[float, float] = (-12.0, 3.0)


def band_limit(audio: np.ndarray, rate: int, through: int) -> np.ndarray:
    """``audio`` (float32 ``[C, N]`` at ``rate`` Hz) resampled to ``through`` Hz and back: nothing
    above ``through / 2`` Hz is left. Same shape."""
    if through >= rate:
        return audio
    low = soxr.resample(audio.T, rate, through, quality="HQ")
    back = soxr.resample(low, through, rate, quality="HQ").T
    out = np.zeros_like(audio)
    n = min(audio.shape[1], back.shape[1])
    out[:, :n] = back[:, :n]
    return out


def codec_round_trip(audio: np.ndarray, rate: int, codec: str, bitrate: int) -> np.ndarray:
    """``audio`` (float32 ``[C, N]``, C 1 or 2) encoded with ``codec`` (``aac`` or ``mp3``) at
    ``bitrate`` bit/s and decoded again with PyAV's bundled FFmpeg, realigned on the input (the
    encoder's delay removed by cross-correlation). Same shape."""
    channels, n = audio.shape
    layout = "mono" if channels == 1 else "stereo"
    buffer = io.BytesIO()
    fmt = {"aac": "adts", "mp3": "mp3"}[codec]
    with av.open(buffer, "w", format=fmt) as out:
        stream = out.add_stream({"aac": "aac", "mp3": "libmp3lame"}[codec], rate=rate, layout=layout)
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio, dtype=np.float32), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    with av.open(buffer, "r", format=fmt) as inp:
        decoded = [f.to_ndarray().reshape(channels, -1) for f in inp.decode(audio=0)]
    back = (
        np.concatenate(decoded, axis=1).astype(np.float32) if decoded else np.zeros((channels, 0), np.float32)
    )
    padded = np.zeros((channels, n + _MAX_DELAY), dtype=np.float32)
    padded[:, : min(back.shape[1], padded.shape[1])] = back[:, : padded.shape[1]]
    reference = audio.sum(axis=0)
    if np.any(reference):
        spectrum = np.fft.rfft(padded.sum(axis=0), 2 * padded.shape[1]) * np.conj(
            np.fft.rfft(reference, 2 * padded.shape[1])
        )
        delay = int(np.argmax(np.fft.irfft(spectrum)[: _MAX_DELAY + 1]))
    else:
        delay = 0
    return padded[:, delay : delay + n]


def degrade(
    mixture: np.ndarray, targets: np.ndarray, rate: int, chain: InputChain, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One example's ``mixture`` (float32 ``[C, L_in]``) and ``targets`` (``[K, C, L_out]``) after
    the input chain: band limit and codec on the mixture, one level change on both."""
    if rng.random() < chain.band_limit:
        mixture = band_limit(mixture, rate, int(rng.choice(chain.rates)))
    if rng.random() < chain.codec:
        codec = str(rng.choice(chain.codecs))
        mixture = codec_round_trip(mixture, rate, codec, int(rng.choice(chain.bitrates)))
    gain = np.float32(10 ** (rng.uniform(*chain.level_db) / 20))
    return (mixture * gain).astype(np.float32), (targets * gain).astype(np.float32)
