"""The listening tagger: shapes, files, and a tiny model that learns to tell two timbres apart."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

from vcsep import vocab
from vcsep.audio.tagger import Tagger, TaggerNet, mel_filterbank
from vcsep.training.tagger import train_tagger

RATE = 22050


def tone(freq: float, seconds: float, rate: int = RATE, harmonics: int = 1, gap: bool = False) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))
    if gap:  # notes with rests: a stem is not active everywhere
        wave = wave * (np.sin(2 * np.pi * 0.5 * t) > -0.3)
    return (0.3 * wave).astype(np.float32)


def test_filterbank_and_output_shapes():
    bank = mel_filterbank(32)
    assert bank.shape == (32, 513) and float(bank.max()) <= 1.0 + 1e-6
    assert (bank.sum(1) > 0).all()  # no empty band
    tagger = Tagger(TaggerNet(n_mels=32, channels=8))
    audio = np.random.default_rng(0).normal(0, 0.1, (2, int(7 * RATE))).astype(np.float32)
    frames = tagger.frame_probabilities(audio, RATE)
    assert frames.shape == (vocab.K, int(np.ceil(7 * 16000 / 1280)))
    tags = tagger.tag(audio, RATE, rate_hz=4.0)
    assert tags.presence.shape == (vocab.K,) and tags.activity.shape == (vocab.K, 28)
    assert ((tags.activity >= 0) & (tags.activity <= 1)).all()


def test_save_load_round_trip_and_unsafe_files_refused(tmp_path):
    tagger = Tagger(TaggerNet(n_mels=32, channels=8))
    tagger.save(tmp_path / "t.pt", steps=0)
    again = Tagger.load(tmp_path / "t.pt")
    audio = tone(440, 2.0)[None]
    np.testing.assert_allclose(
        tagger.frame_probabilities(audio, RATE), again.frame_probabilities(audio, RATE)
    )

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="evil.pt: refused: it holds Python objects") as info:
        Tagger.load(tmp_path / "evil.pt")
    assert not (tmp_path / "ran").exists() and "\n" not in str(info.value)
    torch.save({"config": {"n_mels": 32}}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="partial.pt"):
        Tagger.load(tmp_path / "partial.pt")


@pytest.fixture
def two_timbre_corpus(tmp_path):
    """URMP-layout corpus: a bright high 'violin' and a dull low 'tuba', alone or together."""
    rows = ["folder\ttitle\tsplit"]
    plan = [("vn",), ("tba",), ("vn", "tba"), ("tba", "vn"), ("vn", "tba")]
    rng = np.random.default_rng(0)
    for number, codes in enumerate(plan, start=1):
        title = f"T{number}"
        folder = tmp_path / "corpus" / f"{number:02d}_{title}_{'_'.join(codes)}"
        folder.mkdir(parents=True)
        stems = []
        for part, code in enumerate(codes, start=1):
            freq = rng.uniform(1200, 1800) if code == "vn" else rng.uniform(60, 90)
            stem = tone(freq, 6.0, harmonics=6 if code == "vn" else 1, gap=part == 2)
            sf.write(folder / f"AuSep_{part}_{code}_{number:02d}_{title}.wav", stem, RATE)
            stems.append(stem)
        sf.write(folder / f"AuMix_{folder.name}.wav", sum(stems), RATE)
        rows.append(f"{folder.name}\t{title}\t{'test' if number == 5 else 'train'}")
    (tmp_path / "corpus" / "split.tsv").write_text("\n".join(rows) + "\n")
    return tmp_path / "corpus"


@pytest.fixture
def one_thread():
    """Tiny convolutions on a busy machine: one thread is several times faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_tiny_tagger_learns_which_timbre_plays(two_timbre_corpus, tmp_path, one_thread):
    metrics = train_tagger(
        [two_timbre_corpus], tmp_path / "tagger.pt", steps=400, batch=8, n_mels=32, channels=8
    )
    assert metrics["test_presence"]["micro"]["f1"] == 1.0
    tagger = Tagger.load(tmp_path / "tagger.pt")
    vn, tba = vocab.index("vn"), vocab.index("tba")
    low = tagger.tag(tone(75, 6.0)[None], RATE).presence
    high = tagger.tag(tone(1500, 6.0, harmonics=6)[None], RATE).presence
    assert low[tba] > 0.5 > low[vn] and high[vn] > 0.5 > high[tba]
    # activity follows the notes: a tuba that stops halfway is heard in the first half only
    half = np.concatenate([tone(75, 3.0), np.zeros(3 * RATE, dtype=np.float32)])[None]
    row = tagger.tag(half, RATE, rate_hz=2.0).activity[tba]
    assert row[:5].min() > 0.5 > row[7:].max()


def test_a_stream_of_blocks_tags_like_the_whole_array():
    tagger = Tagger(TaggerNet(n_mels=32, channels=8))
    audio = np.random.default_rng(1).normal(0, 0.1, (2, int(12.3 * RATE))).astype(np.float32)
    whole = tagger.tag(audio, RATE)
    blocks = (audio[:, i : i + 1024] for i in range(0, audio.shape[1], 1024))
    streamed = tagger.tag(blocks, RATE)
    np.testing.assert_allclose(streamed.presence, whole.presence, atol=1e-5)
    np.testing.assert_allclose(streamed.activity, whole.activity, atol=1e-5)
    assert whole.activity.shape == (vocab.K, 50)  # ceil(12.3 s x 4 Hz)
    # windows batched through the net give what each window alone gives
    alone = [tagger._run([w])[0] for w in tagger._windows(audio, RATE)]
    np.testing.assert_allclose(tagger.frame_probabilities(audio, RATE), np.concatenate(alone, 1), atol=1e-5)


def test_a_relative_level_tagger_hears_the_same_at_any_level(two_timbre_corpus, tmp_path, one_thread):
    metrics = train_tagger(
        [two_timbre_corpus], tmp_path / "t.pt", steps=400, batch=8, n_mels=32, channels=8, relative_level=True
    )
    assert metrics["relative_level"] and metrics["test_presence"]["micro"]["f1"] == 1.0
    tagger = Tagger.load(tmp_path / "t.pt")
    assert tagger.net.relative_level
    music = tone(75, 6.0)[None] + tone(1500, 6.0, harmonics=6)[None]
    rms = np.sqrt(np.mean(music**2))
    heard = [tagger.tag(music * (10 ** (db / 20) / rms), RATE).presence for db in (-45, -30, -18)]
    for other in heard[1:]:
        np.testing.assert_allclose(other, heard[0], atol=1e-3)
    assert heard[0][vocab.index("vn")] > 0.5 and heard[0][vocab.index("tba")] > 0.5
    # a tagger trained before (absolute level) loads and keeps hearing absolute levels
    old = TaggerNet(n_mels=32, channels=8)
    torch.save(
        {"config": {"n_mels": 32, "channels": 8, "codes": list(vocab.CODES)}, "state_dict": old.state_dict()},
        tmp_path / "old.pt",
    )
    assert not Tagger.load(tmp_path / "old.pt").net.relative_level



def test_the_rolloff_darkens_the_upper_band_and_is_off_by_default():
    from vcsep.training.tagger import make_batch

    n_mels, frames = 32, 400
    flat = torch.ones(n_mels, frames)  # four stems of white mel power, all active
    stems = [(vocab.index(c), flat, torch.ones(frames, dtype=torch.bool)) for c in ("sax", "hn", "cl", "vn")]

    def batch(**kw):
        return make_batch(stems, 256, np.random.default_rng(3), **kw)

    def top_minus_bottom_db(x):
        """Mean over examples of the top quarter's log power less the lowest four bands', in dB."""
        return float((x[:, -n_mels // 4 :].mean((1, 2)) - x[:, :4].mean((1, 2))).mean()) * 10 / np.log(10)

    plain, _ = batch()
    same, _ = batch(rolloff_db=0.0)
    torch.testing.assert_close(same, plain)  # off: the same random stream, the same mixtures
    dark, _ = batch(rolloff_db=40.0)
    # the tilts and ripples are symmetric: flat on average; the roll-off takes several dB off the top
    assert abs(top_minus_bottom_db(plain)) < 1.5
    assert top_minus_bottom_db(dark) < top_minus_bottom_db(plain) - 4.0


def test_a_negative_rolloff_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="rolloff_db .* must be >= 0, got -6"):
        train_tagger([tmp_path / "no-such-corpus"], tmp_path / "t.pt", rolloff_db=-6.0)
    assert not (tmp_path / "t.pt").exists()
