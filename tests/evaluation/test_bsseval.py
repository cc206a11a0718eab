"""The fast BSSEval v4 scorer against museval itself, on short signals with several distortions."""

from __future__ import annotations

import numpy as np
import pytest

from vcsep.evaluation.bsseval import (
    METRICS,
    bss_eval,
    bss_eval_fast,
    bss_eval_museval,
    framewise_sdr,
    num_frames,
)

RATE = 8000  # the references fixture's rate
WIN = RATE // 2  # half-second windows keep museval's share of the test time small


def additive(refs, rng):  # interference from the other sources plus white noise
    return refs + 0.2 * np.roll(refs, 1, axis=0) + 0.05 * rng.standard_normal(refs.shape)


def filtered(refs, rng):  # a colouring filter and gain: spatial distortion, small artefacts
    kernel = np.array([0.7, 0.2, -0.1, 0.05])
    out = np.apply_along_axis(lambda ch: np.convolve(ch, kernel)[: ch.size], -1, refs)
    return 0.8 * out + 0.01 * rng.standard_normal(refs.shape)


def clipped(refs, rng):  # non-linear artefacts and a channel swap's worth of spatial error
    return np.tanh(4 * (refs + 0.1 * refs[:, ::-1])) / 4 + 0.1 * np.roll(refs, 1, axis=0)


@pytest.mark.parametrize(
    "distortion, sources, channels",
    [(additive, 2, 2), (filtered, 3, 1), (clipped, 2, 2)],
    ids=["noise+interference-stereo", "filter-3src-mono", "clipped-stereo"],
)
def test_fast_matches_museval_within_a_hundredth_of_a_db(distortion, sources, channels, references):
    rng = np.random.default_rng(1)
    refs = references(sources, channels, 1.25)  # 2 full windows, the partial third is dropped
    ests = distortion(refs, rng)
    expected = bss_eval_museval(refs, ests, WIN).as_dict()
    got = bss_eval_fast(refs, ests, WIN).as_dict()
    for metric in METRICS:
        assert got[metric].shape == (sources, 2)
        assert np.isfinite(got[metric]).all()
        np.testing.assert_allclose(got[metric], expected[metric], rtol=0, atol=0.01, err_msg=metric)


def test_silent_frames_are_nan_like_museval_and_hop_overlaps(references):
    rng = np.random.default_rng(2)
    refs = references(2, 1, 1.5, seed=3)
    refs[1, :, WIN : 2 * WIN] = 0  # second source silent in the second half-second only
    ests = additive(refs, rng)
    hop = WIN // 2
    expected = bss_eval_museval(refs, ests, WIN, hop).as_dict()
    got = bss_eval(refs, ests, WIN, hop, metrics="fast").as_dict()
    assert got["SDR"].shape == (2, num_frames(3 * WIN, WIN, hop)) == (2, 5)
    for metric in METRICS:
        np.testing.assert_array_equal(np.isnan(got[metric]), np.isnan(expected[metric]))
        assert np.isnan(got[metric][:, 2]).all()  # the one window entirely inside the silence
        np.testing.assert_allclose(got[metric], expected[metric], rtol=0, atol=0.01, equal_nan=True)


def test_copied_channels_fall_back_like_museval(references):
    rng = np.random.default_rng(4)
    refs = np.repeat(references(2, 1, 1.0, seed=5), 2, axis=1)  # mono stems as stereo: singular Gram
    ests = additive(refs, rng)
    expected = bss_eval_museval(refs, ests, WIN).as_dict()
    got = bss_eval_fast(refs, ests, WIN).as_dict()
    for metric in METRICS:
        np.testing.assert_allclose(got[metric], expected[metric], rtol=0, atol=0.01, err_msg=metric)


def test_sdr_alone_equals_the_full_scorer(references):
    rng = np.random.default_rng(6)
    refs = references(2, 2, 2.0)
    ests = filtered(refs, rng)
    np.testing.assert_allclose(
        framewise_sdr(refs, ests, RATE), bss_eval_fast(refs, ests, RATE).sdr, rtol=0, atol=1e-9
    )


def test_bad_input_is_refused_with_the_reason(references):
    refs = references(2, 1, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        bss_eval_fast(refs, refs[:, :, :-1], RATE)
    with pytest.raises(ValueError, match=r"\[sources, channels, samples\]"):
        bss_eval_fast(refs[0], refs[0], RATE)
    bad = refs.copy()
    bad[0, 0, 10] = np.nan
    with pytest.raises(ValueError, match="estimates contain NaN"):
        bss_eval_fast(refs, bad, RATE)
    silent = refs.copy()
    silent[1] = 0
    with pytest.raises(ValueError, match=r"reference source\(s\) \[1\] are silent"):
        bss_eval_fast(silent, refs, RATE)
    with pytest.raises(ValueError, match="metrics must be 'fast' or 'museval'"):
        bss_eval(refs, refs, RATE, metrics="v3")


@pytest.mark.parametrize("length", [4 * 700, 4 * 700 + 123, 500], ids=["tiled", "remainder", "one-window"])
def test_whole_signal_correlations_from_windows_equal_the_direct_ones(length):
    import torch

    from vcsep.evaluation.bsseval import _frames, _whole_from_windows, lag_correlations

    rng = np.random.default_rng(length)
    x = torch.as_tensor(rng.standard_normal((2, length)))
    y = torch.as_tensor(rng.standard_normal((3, length)))
    win, lag = 700, 40
    frames = num_frames(length, win, win)
    xf, yf = _frames(x, win, win, frames), _frames(y, win, win, frames)
    corr = lag_correlations(xf, yf, lag)
    direct = lag_correlations(x[None], y[None], lag)[0]
    torch.testing.assert_close(_whole_from_windows(corr, x, y, win, win, frames), direct)
    # overlapping windows cannot be summed: the direct computation is used
    torch.testing.assert_close(_whole_from_windows(corr, x, y, win, win // 2, frames), direct)
