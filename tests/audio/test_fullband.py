"""Full-band stems: the mixture's top band goes back to the stems that sound near the cut."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import firwin

from vcsep.audio.fullband import TAPS, context_samples, restore_top_band
from vcsep.audio.io import resample

RATE, CUT = 48000, 0.45 * 22050


def _bright(f0: float, n: int, start: int, stop: int) -> np.ndarray:
    """Harmonics of f0 up to 20 kHz, sounding from sample ``start`` to ``stop``: ``[1, n]``."""
    t = np.arange(n) / RATE
    tone = sum(np.sin(2 * np.pi * f0 * h * t + h) / h for h in range(1, int(20000 // f0)))
    gate = np.zeros(n)
    gate[start:stop] = 1.0
    return (0.1 * tone * gate)[None].astype(np.float32)


def _band_limited(audio: np.ndarray) -> np.ndarray:
    """What a 22050 Hz separator gives back at 48 kHz: the same audio with no top band."""
    return resample(resample(audio, RATE, 22050), 22050, RATE)[:, : audio.shape[1]]


def _top(audio: np.ndarray) -> np.ndarray:
    lowpass = firwin(TAPS, CUT, fs=RATE)
    return audio - np.apply_along_axis(lambda x: np.convolve(x, lowpass, mode="same"), -1, audio)


def test_top_bands_sum_to_the_mixture_and_follow_who_plays():
    n = RATE
    truth = np.stack([_bright(440.0, n, 0, n // 2), _bright(660.0, n, n // 2, n)])  # [2, 1, n]
    mixture = truth.sum(axis=0)
    estimates = np.stack([_band_limited(s) for s in truth])
    assert np.square(_top(estimates)).sum() < 0.1 * np.square(_top(truth)).sum()  # little up there

    out = restore_top_band(mixture, estimates, RATE, CUT)
    assert out.shape == truth.shape and out.dtype == np.float32
    added = out - (estimates - _top(estimates))  # each stem's top band, above its own low band
    np.testing.assert_allclose(added.sum(axis=0), _top(mixture), atol=1e-5)  # shares sum to one
    for k in range(2):  # each stem's new top band is its own, not the other player's
        assert np.corrcoef(added[k, 0], _top(truth[k])[0])[0, 1] > 0.95


def test_blocks_with_context_give_the_same_result():
    n = RATE // 2
    truth = np.stack([_bright(330.0, n, 0, n), _bright(523.0, n, n // 3, n)])
    mixture, estimates = truth.sum(axis=0), np.stack([_band_limited(s) for s in truth])
    whole = restore_top_band(mixture, estimates, RATE, CUT)
    pad, lo, hi = context_samples(RATE), 9000, 15000
    block = restore_top_band(mixture[:, lo - pad : hi + pad], estimates[..., lo - pad : hi + pad], RATE, CUT)
    np.testing.assert_allclose(block[..., pad:-pad], whole[..., lo:hi], atol=1e-5)


def test_silence_and_full_band_models_are_left_alone():
    silent = np.zeros((2, 1, 4800), np.float32)
    assert not restore_top_band(silent[0], silent, RATE, CUT).any()
    stems = np.random.default_rng(0).standard_normal((2, 1, 4800)).astype(np.float32)
    np.testing.assert_array_equal(restore_top_band(stems.sum(0), stems, RATE, cut_hz=RATE / 2), stems)
    with pytest.raises(ValueError, match="must match"):
        restore_top_band(stems[0, :, :100], stems, RATE, CUT)


@pytest.mark.parametrize("block", [5000, 1 << 16])
def test_the_stream_gives_the_whole_result_in_any_blocks(monkeypatch, block):
    from vcsep.audio import fullband
    from vcsep.audio.fullband import TopBandStream

    monkeypatch.setattr(fullband, "BLOCK", block)  # sub-blocks smaller and larger than the chunks

    n = RATE
    truth = np.stack([_bright(440.0, n, 0, 2 * n // 3), _bright(587.0, n, n // 4, n)])
    mixture, estimates = truth.sum(axis=0), np.stack([_band_limited(s) for s in truth])
    whole = restore_top_band(mixture, estimates, RATE, CUT)
    stream = TopBandStream(RATE, CUT)
    for lo, hi in [(0, 7000), (7000, 31000), (31000, n)]:  # the mixture runs ahead, as it does
        stream.mixture(mixture[:, lo:hi])
    cuts = [0, 500, 4100, 4200, 20000, 33333, n]
    pieces = list(stream.run(estimates[..., a:b] for a, b in zip(cuts, cuts[1:])))
    got = np.concatenate(pieces, axis=-1)
    assert got.shape == whole.shape
    np.testing.assert_allclose(got, whole, atol=1e-5)


def test_the_stream_restores_only_the_rows_it_is_given():
    from vcsep.audio.fullband import TopBandStream

    n = RATE // 2
    truth = np.stack([_bright(440.0, n, 0, n), _bright(587.0, n, 0, n), _bright(880.0, n, n // 2, n)])
    mixture, estimates = truth[1:].sum(axis=0), np.stack([_band_limited(s) for s in truth])
    stream = TopBandStream(RATE, CUT, rows=[1, 2])  # slot 0 is not written: it gets no share
    stream.mixture(mixture)
    got = np.concatenate(list(stream.run([estimates[..., :9000], estimates[..., 9000:]])), axis=-1)
    np.testing.assert_allclose(got, restore_top_band(mixture, estimates[[1, 2]], RATE, CUT), atol=1e-5)
