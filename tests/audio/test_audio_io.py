import numpy as np
import pytest

from vcsep.audio.io import at_level, read_audio, resample, write_audio


def test_write_then_read(tmp_path):
    audio = (np.random.default_rng(0).standard_normal((2, 1000)) * 0.1).astype(np.float32)
    path = write_audio(tmp_path / "x.wav", audio, 16000)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]
    back, sr = read_audio(path)
    assert sr == 16000 and back.shape == (2, 1000) and back.dtype == np.float32
    np.testing.assert_allclose(back, audio, atol=1e-4)


def test_resample_keeps_duration_and_tone():
    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)[None]
    out = resample(tone, 44100, 22050)
    assert out.shape == (1, 22050)
    expected = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
    np.testing.assert_allclose(out[0, 1000:-1000], expected[1000:-1000], atol=1e-3)


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF nonsense")
    with pytest.raises(ValueError, match="broken.wav"):
        read_audio(bad)


def test_at_level_sets_the_rms_and_keeps_silence():
    audio = np.random.default_rng(0).normal(0, 0.3, (2, 4000)).astype(np.float32)
    for dbfs in (-45.0, -18.0):
        out = at_level(audio, dbfs)
        assert out.dtype == np.float32 and out.shape == audio.shape
        assert 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2))) == pytest.approx(dbfs, abs=1e-3)
    assert not at_level(np.zeros((1, 100)), -18.0).any()
