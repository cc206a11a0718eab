import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from vcsep.audio.spectrogram import MAX_COLUMNS, draw_spectrogram


def test_long_audio_is_pooled_to_the_column_limit_and_short_events_stay_visible():
    rate = 8000
    audio = np.zeros((2, 600 * rate), np.float32)
    audio[:, 300 * rate : 300 * rate + 80] = 0.5  # a 10 ms click in the middle of 10 minutes
    fig, ax = plt.subplots()
    draw_spectrogram(ax, audio, rate, "click")
    image = ax.images[0]
    db = np.asarray(image.get_array())
    assert db.shape[0] == 513 and db.shape[1] <= MAX_COLUMNS
    assert image.get_extent() == [0.0, 600.0, 0.0, 4.0]
    column = int(300 / 600 * db.shape[1])
    assert db[:, column - 1 : column + 2].max() > -30  # the click survived the pooling
    assert db[:, : column // 2].max() < -99  # silence elsewhere
    plt.close(fig)


def test_short_audio_keeps_every_stft_frame():
    rate = 8000
    fig, ax = plt.subplots()
    draw_spectrogram(ax, np.random.default_rng(0).standard_normal((1, rate)) * 0.1, rate, "noise")
    assert np.asarray(ax.images[0].get_array()).shape == (513, rate // 256 + 1)
    plt.close(fig)


def test_a_file_is_drawn_like_its_array(tmp_path):
    import soundfile as sf

    rate = 8000
    audio = (np.random.default_rng(1).standard_normal((2, 200 * rate)) * 0.1).astype(np.float32)
    sf.write(tmp_path / "a.wav", audio.T, rate, subtype="FLOAT")
    from vcsep.audio.spectrogram import spectrogram_db

    from_array, seconds = spectrogram_db(audio, rate)
    from_file, _ = spectrogram_db(tmp_path / "a.wav", rate)
    assert seconds == 200.0 and from_array.shape == from_file.shape and from_array.shape[1] <= MAX_COLUMNS
    np.testing.assert_allclose(from_file, from_array, atol=1e-3)


def test_log_frequency_axis_gives_every_octave_one_height():
    from vcsep.audio.spectrogram import LOG_ROWS, LOW_HZ

    rate = 48000
    t = np.arange(rate) / rate
    audio = (np.sin(2 * np.pi * 110 * t) + 0.01 * np.sin(2 * np.pi * 880 * t))[None].astype(np.float32)
    fig, ax = plt.subplots()
    draw_spectrogram(ax, audio, rate, "two tones", log_frequency=True)
    image = ax.images[0]
    db = np.asarray(image.get_array())
    octaves = np.log2(rate / 2 / LOW_HZ)
    assert db.shape[0] == LOG_ROWS and image.get_extent() == [0.0, 1.0, 0.0, octaves]
    profile = db[:, db.shape[1] // 2]
    centres = LOW_HZ * 2 ** (octaves * (np.arange(LOG_ROWS) + 0.5) / LOG_ROWS)  # Hz
    loud = int(np.argmax(profile))
    # the peak within an STFT bin (23.4 Hz) of the tone, a full-scale sine at 0 dB (less the
    # window's scalloping between bins)
    assert abs(centres[loud] - 110) < 23.4 and profile[loud] == pytest.approx(0, abs=1.5)
    quiet = np.abs(centres - 880).argmin()  # three octaves up, 40 dB down
    assert profile[quiet - 1 : quiet + 2].max() == pytest.approx(-40, abs=2)
    assert np.all(profile[(centres > 1500) & (centres < 10000)] < -80)  # nothing else
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["50", "100", "200"]
    plt.close(fig)
