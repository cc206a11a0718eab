import numpy as np
import pytest
import torch

from vcsep.audio.inference import separate_long, separate_stream, separate_tiled
from vcsep.fusion import ConditionedSeparator

TINY = dict(sources=("a", "b", "c"), levels=3, features=4, down_kernel=5, up_kernel=3, sample_rate=8000)
# The Demucs-style net: its BiLSTM chunks make windows 8 * 4**2 = 128 samples apart agree.
TINY_DEMUCS = dict(sources=("a", "b", "c"), levels=2, features=4, sample_rate=8000, architecture="demucs")
ARCHITECTURES = ["waveunet", "demucs"]


def _model(channels=1, mechanism="film", location="decoder", architecture="waveunet"):
    torch.manual_seed(0)
    tiny = TINY_DEMUCS if architecture == "demucs" else TINY
    return ConditionedSeparator(mechanism, location, channels=channels, **tiny).eval()


def _audio(channels, n, seed=0):
    return (np.random.default_rng(seed).standard_normal((channels, n)) * 0.3).astype(np.float32)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("channels, n", [(1, 5), (1, 3001), (2, 1024), (2, 777)])
def test_long_windows_equal_plain_tiling(channels, n, architecture):
    model = _model(channels, architecture=architecture)
    audio, labels = _audio(channels, n), np.array([1.0, 0.0, 0.7], np.float32)
    tiled = separate_tiled(model, audio, 8000, labels, output_length=16)
    assert tiled.shape == (3, channels, n)
    for window, batch in [(200, 1), (1000, 3), (10**6, 2)]:
        long = separate_long(model, audio, 8000, labels, window_output=window, batch_size=batch)
        assert long.shape == (3, channels, n)
        assert np.abs(long - tiled).max() <= 1e-5


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_one_window_is_the_model_on_zero_padded_audio(architecture):
    model = _model(mechanism=None, location=None, architecture=architecture)
    audio = _audio(1, 50)
    length_in, length_out = model.shapes(50)
    left = (length_in - length_out) // 2
    padded = np.zeros((1, 1, length_in), np.float32)
    padded[0, :, left : left + 50] = audio
    with torch.no_grad():
        direct = model(torch.from_numpy(padded))[0, :, :, :50].numpy()
    np.testing.assert_allclose(separate_long(model, audio, 8000), direct, atol=1e-6, rtol=0)


def test_other_sample_rates_are_resampled_there_and_back():
    model = _model(2)
    audio = _audio(2, 4410)
    long = separate_long(model, audio, 44100, [1, 1, 0], window_output=300)
    tiled = separate_tiled(model, audio, 44100, [1, 1, 0], output_length=16)
    assert long.shape == tiled.shape == (3, 2, 4410)
    assert np.abs(long - tiled).max() <= 1e-5
    assert np.abs(long).max() > 0.01


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_time_varying_labels_over_the_recording(architecture):
    model = _model(1, "multiplicative", "output", architecture)
    audio = _audio(1, 2000)
    constant = separate_long(model, audio, 8000, np.ones((3, 12)), window_output=500)
    clip = separate_long(model, audio, 8000, np.ones(3), window_output=500)
    np.testing.assert_allclose(constant, clip, atol=1e-6)
    late = np.ones((3, 10), np.float32)
    late[0, 8:] = 0  # the violin stops in the last fifth
    changed = np.abs(separate_long(model, audio, 8000, late, window_output=500) - constant).max(axis=(0, 1))
    assert changed[:1400].max() == 0 and changed[1700:].max() > 1e-4


def test_windows_in_memory_are_bounded():
    model = _model(mechanism=None, location=None)
    calls = []

    def recording(mix):
        calls.append(tuple(mix.shape))
        return model(mix)

    recording.__dict__.update(
        shapes=model.shapes, step=model.step, channels=1, num_sources=3, sample_rate=8000
    )
    out = separate_long(recording, _audio(1, 20000), 8000, window_output=1000, batch_size=2)
    assert out.shape == (3, 1, 20000)
    length_in = model.shapes(1000)[0]
    assert len(calls) == 10 and set(calls) == {(2, 1, length_in)}  # 20 windows of 1000, two per call


def test_writes_into_a_given_array(tmp_path):
    model = _model(mechanism=None, location=None)
    out = np.lib.format.open_memmap(tmp_path / "stems.npy", mode="w+", dtype=np.float32, shape=(3, 1, 900))
    result = separate_long(model, _audio(1, 900), 8000, window_output=256, out=out, progress=True)
    assert result is out and np.abs(out).max() > 0
    with pytest.raises(ValueError, match="shape"):
        separate_long(model, _audio(1, 900), 8000, out=np.zeros((3, 1, 10), np.float32))


@pytest.mark.parametrize(
    "audio, labels, message",
    [
        (np.array([[0.0, np.nan, 0.0]], np.float32), None, "NaN or infinite samples .*sample 1"),
        (np.array([[0.0, 0.0, np.inf]], np.float32), None, "NaN or infinite"),
        (np.zeros((1, 0), np.float32), None, "empty"),
        (np.zeros((2, 100), np.float32), None, "1-channel audio, this audio has 2"),
        (np.zeros(100, np.float32), None, r"\[channels, samples\]"),
        (np.zeros((1, 100), np.float32), np.ones(4), "labels must be"),
        (np.zeros((1, 100), np.float32), np.full(3, np.nan), "labels contain NaN"),
    ],
)
def test_bad_input_is_refused_clearly(audio, labels, message):
    with pytest.raises(ValueError, match=message):
        separate_long(_model(), audio, 8000, np.ones(3) if labels is None else labels)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_bf16_precision_stays_close_to_float32_and_unknown_precisions_are_refused(architecture):
    model = _model(1, architecture=architecture)
    audio, labels = _audio(1, 3001), np.array([1.0, 0.0, 0.7], np.float32)
    exact = separate_long(model, audio, 8000, labels, window_output=1000)
    half = separate_long(model, audio, 8000, labels, window_output=1000, precision="bf16")
    assert half.dtype == np.float32 and half.shape == exact.shape
    assert not np.array_equal(half, exact)  # the convolutions really ran in bfloat16
    snr = 10 * np.log10(np.sum(exact**2) / np.sum((half - exact) ** 2))
    assert snr > 25, f"bf16 stems only {snr:.1f} dB away from float32"
    with pytest.raises(ValueError, match="precision must be one of 32, bf16"):
        separate_long(model, audio, 8000, labels, precision="fp8")


def _blocks(audio, sizes):
    """``audio`` cut into blocks of the given sizes, cycling (as a decoder hands out frames)."""
    start, sizes = 0, iter(sizes * (audio.shape[1] // min(sizes) + 1))
    while start < audio.shape[1]:
        size = next(sizes)
        yield audio[:, start : start + size]
        start += size


@pytest.mark.parametrize(
    "rate, expected, architecture",
    [(8000, None, "waveunet"), (8000, 3001, "waveunet"), (44100, 16000, "waveunet"), (8000, 3001, "demucs")],
)
def test_streamed_blocks_give_the_same_stems_as_the_whole_array(rate, expected, architecture):
    model = _model(2, architecture=architecture)
    audio, labels = _audio(2, 16000 if rate == 44100 else 3001), np.array([1.0, 0.0, 0.7], np.float32)
    whole = separate_long(model, audio, rate, labels, window_output=300)
    streamed = np.concatenate(
        list(
            separate_stream(
                model,
                _blocks(audio, [1024, 77, 500]),
                rate,
                labels,
                expected_length=expected,
                window_output=300,
            )
        ),
        axis=-1,
    )
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= 1e-4


def test_silence_in_gives_silence_out_and_bad_samples_are_located():
    model = _model(1, mechanism=None, location=None)
    audio = _audio(1, 4000)
    audio[:, 1000:3000] = 0
    stems = separate_long(model, audio, 8000)
    assert np.all(stems[..., 1300:2700] == 0) and np.abs(stems[..., :700]).max() > 0
    assert np.all(separate_long(model, np.zeros((1, 5000), np.float32), 8000) == 0)
    audio[0, 2400] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite samples \(first at 0.300 s\)"):
        list(separate_stream(model, _blocks(audio, [1000]), 8000))
