"""On-the-fly mixing: coherent and incoherent remixes, determinism, silence avoidance, scaper, shards."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from vcsep import vocab
from vcsep.audio.io import window
from vcsep.cli import main
from vcsep.datasets import DatasetError, InMemoryMixer, MixConfig, Segment, load_dataset
from vcsep.datasets.mixing import active_fraction
from vcsep.datasets.scaper_mix import ScaperMixer
from vcsep.datasets.shards import ShardDataset, write_shards

RATE = 8000
SEGMENT = Segment(input_length=3000, output_length=1000, sample_rate=RATE)


def write_track(root, name, parts: dict[str, float], seconds=2.0, silent_first_half=False):
    t = np.arange(int(seconds * RATE)) / RATE
    for code, freq in parts.items():
        audio = 0.3 * np.sin(2 * np.pi * freq * t)
        if silent_first_half:
            audio[: len(t) // 2] = 0
        (root / name).mkdir(parents=True, exist_ok=True)
        sf.write(root / name / f"{code}.wav", audio.astype(np.float32), RATE, subtype="FLOAT")


@pytest.fixture
def tracks(tmp_path):
    root = tmp_path / "stems"
    write_track(root, "a", {"vn": 440, "vc": 110})
    write_track(root, "b", {"fl": 880, "vn": 660, "tba": 55}, seconds=3.0)
    write_track(root, "c", {"cl": 330}, silent_first_half=True)
    return load_dataset(f"stems:{root}")


def test_segment_context_and_window():
    assert SEGMENT.context == 1000
    with pytest.raises(ValueError):
        Segment(10, 20)
    audio = np.arange(10, dtype=np.float32)[None]
    np.testing.assert_array_equal(window(audio, -2, 5), [[0, 0, 0, 1, 2]])
    np.testing.assert_array_equal(window(audio, 8, 4), [[8, 9, 0, 0]])


def test_coherent_remix_sums_to_its_mixture(tracks):
    mixer = InMemoryMixer(tracks, SEGMENT, MixConfig(coherent=1.0), seed=3, examples=20)
    for i in range(20):
        ex = mixer[i]
        assert ex["mixture"].shape == (1, 3000) and ex["targets"].shape == (vocab.K, 1, 1000)
        centre = ex["mixture"][:, SEGMENT.context : SEGMENT.context + 1000]
        np.testing.assert_allclose(centre, ex["targets"].sum(axis=0), atol=1e-6)
        present = {vocab.CODES[k] for k in np.flatnonzero(ex["labels"])}
        assert present in ({"vn", "vc"}, {"fl", "vn", "tba"}, {"cl"})
        silent = [k for k in range(vocab.K) if ex["labels"][k] == 0]
        assert not ex["targets"][silent].any()
        assert 0 <= int(ex["track"]) < 3


def test_incoherent_mix_takes_each_slot_from_any_piece(tracks):
    mixer = InMemoryMixer(tracks, SEGMENT, MixConfig(coherent=0.0, max_sources=3), seed=5, examples=40)
    seen = set()
    for i in range(40):
        ex = mixer[i]
        present = {vocab.CODES[k] for k in np.flatnonzero(ex["labels"])}
        assert 1 <= len(present) <= 3 and int(ex["track"]) == -1
        seen.add(frozenset(present))
        energy = np.abs(ex["targets"]).sum(axis=(1, 2))
        assert set(np.flatnonzero(energy > 0)) <= set(np.flatnonzero(ex["labels"]))
    # combinations that no single piece has (e.g. cello with flute) appear
    assert any(not (s <= {"vn", "vc"} or s <= {"fl", "vn", "tba"} or s <= {"cl"}) for s in seen)


def test_examples_are_reproducible_from_seed_and_index(tracks):
    a = InMemoryMixer(tracks, SEGMENT, seed=11, examples=10)
    b = InMemoryMixer(tracks, SEGMENT, seed=11, examples=10)
    c = InMemoryMixer(tracks, SEGMENT, seed=12, examples=10)
    for i in (7, 0, 3):  # any order
        for key in ("mixture", "targets", "labels"):
            np.testing.assert_array_equal(a[i][key], b[i][key])
    assert not all(np.array_equal(a[i]["mixture"], c[i]["mixture"]) for i in range(10))
    with pytest.raises(IndexError):
        a[10]


def test_sampling_avoids_mostly_silent_targets(tracks):
    only_c = [t for t in tracks if t.name == "c"]
    mixer = InMemoryMixer(only_c, SEGMENT, MixConfig(coherent=1.0, min_active=0.5), seed=0, examples=30)
    fractions = [active_fraction(mixer[i]["targets"], RATE, -50.0) for i in range(30)]
    assert min(fractions) >= 0.5


def test_mixer_errors():
    with pytest.raises(DatasetError, match="dataset is empty"):
        InMemoryMixer([], SEGMENT)


def test_scaper_mix_regenerates_from_its_jams(tracks, tmp_path):
    mixer = ScaperMixer(tracks, SEGMENT, tmp_path / "lib", seed=2, examples=4, max_sources=2)
    for i in range(4):
        ex = mixer[i]
        assert ex["mixture"].shape == (1, 3000) and ex["targets"].shape == (vocab.K, 1, 1000)
        assert 1 <= ex["labels"].sum() <= 2 and np.abs(ex["mixture"]).max() > 0.01
        assert mixer.jams_path(i).is_file()
    again = mixer.regenerate(3)
    for key in ("mixture", "targets", "labels"):
        np.testing.assert_allclose(again[key], ex[key], atol=1e-6)
    with pytest.raises(FileNotFoundError, match="generate example 9"):
        ScaperMixer(tracks, SEGMENT, tmp_path / "lib", seed=2, examples=10).regenerate(9)


def test_shards_round_trip(tracks, tmp_path):
    mixer = InMemoryMixer(tracks, SEGMENT, seed=1, examples=12)
    write_shards(mixer, tmp_path / "shards")
    shards = ShardDataset(tmp_path / "shards")
    assert len(shards) == 12
    for i in range(12):
        got, want = shards[i], mixer[i]
        for key in ("mixture", "targets", "labels"):
            np.testing.assert_array_equal(got[key], want[key])
    with pytest.raises(FileExistsError, match="not empty"):
        write_shards(mixer, tmp_path / "shards")
    with pytest.raises(FileNotFoundError, match="no litdata shards"):
        ShardDataset(tmp_path)


def test_cli_prepare_end_to_end(tracks, tmp_path, capsys):
    root = tracks[0].stems["vn"][0].parents[1]
    out = tmp_path / "prepared"
    code = main(
        [
            "prepare",
            "--data",
            f"stems:{root}",
            "--out",
            str(out),
            "--examples",
            "6",
            "--levels",
            "3",
            "--output-length",
            "512",
            "--sample-rate",
            str(RATE),
        ]
    )
    assert code == 0
    assert "writing 6 segments" in capsys.readouterr().out
    shards = ShardDataset(out)
    assert len(shards) == 6 and shards[0]["targets"].shape[0] == vocab.K
    assert shards[0]["mixture"].shape[1] > shards[0]["targets"].shape[2]
    assert main(["prepare", "--data", f"nope:{root}", "--out", str(tmp_path / "x")]) == 2


def test_activity_follows_the_notes_files(tmp_path):
    root = tmp_path / "stems"
    write_track(root, "a", {"vn": 440, "vc": 110}, seconds=SEGMENT.output_length / RATE)  # start is 0
    (track,) = load_dataset(f"stems:{root}")
    notes = tmp_path / "Notes_1_vn_01_A.txt"
    notes.write_text("0.05\t440.0\t0.05\n0.2\t440.0\t0.1\n")  # onset s, pitch Hz, duration s
    track.notes = {"vn": [notes]}  # vc has no Notes file: it counts as sounding throughout
    mixer = InMemoryMixer([track], SEGMENT, MixConfig(coherent=1.0, activity_hz=20.0), seed=1, examples=3)
    t = (np.arange(SEGMENT.input_length) - SEGMENT.context) / RATE  # the input window, in track time
    sounding = ((t >= 0.05) & (t < 0.1)) | ((t >= 0.2) & (t < 0.3))
    frames = 8  # ceil(3000 / 8000 s x 20 Hz), 375 samples each
    for i in range(3):
        ex = mixer[i]
        assert ex["activity"].shape == (vocab.K, frames) and ex["activity"].dtype == np.float32
        expected = sounding.reshape(frames, -1).mean(axis=1)
        np.testing.assert_allclose(ex["activity"][vocab.index("vn")], expected, atol=1 / 375 + 1e-6)
        np.testing.assert_array_equal(ex["activity"][vocab.index("vc")], np.ones(frames))
        assert not ex["activity"][ex["labels"] == 0].any()
    assert "activity" not in InMemoryMixer([track], SEGMENT, MixConfig(), seed=1, examples=1)[0]


def test_activity_frames_against_sample_level_notes():
    from vcsep.datasets.notes import activity_frames

    intervals = np.array([[0.5, 1.0], [1.5, 1.8]])
    rate = 8000
    for start_s in (0.0, 0.4, 0.93, 1.6):
        got = activity_frames(intervals, start_s, 0.375, 8)
        t = start_s + np.arange(3000) / rate
        mask = ((t >= 0.5) & (t < 1.0)) | ((t >= 1.5) & (t < 1.8))
        np.testing.assert_allclose(got, mask.reshape(8, -1).mean(axis=1), atol=1 / 375 + 1e-6)
