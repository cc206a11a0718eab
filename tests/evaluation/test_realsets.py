"""Real players to measure on: the ISFEE-style clip table, the validation/report split and the real
ensembles built from videos and sound files (a tiny layout the test writes itself)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from vcsep.datasets.track import DatasetError
from vcsep.evaluation.realsets import (
    isfee_clips,
    read_real_clip,
    real_clips,
    real_ensembles,
    split_clips,
)
from vcsep.media import write_video

RATE = 44100


def tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """``isfee/`` (labels.tsv and mp4 videos with sound: 4 violins, 3 flutes, 1 tuba) and
    ``realdev/solos/<code>/`` (flac: 2 clarinets, 2 violins)."""
    root = tmp_path_factory.mktemp("shared")
    isfee = root / "isfee"
    lines = ["path\tinstruments\tisfee_instrument\tsource_path\tstart_s\tseconds\n"]
    for code, count, freq in (("vn", 4, 440.0), ("fl", 3, 660.0), ("tba", 1, 55.0)):
        (isfee / code).mkdir(parents=True)
        for i in range(count):
            path = f"{code}/{code}_{i}.mp4"
            frames = (np.full((64, 64, 3), 40 * i, np.uint8) for _ in range(10))
            write_video(isfee / path, frames, 5, audio=tone(freq + i, 2.0 + 0.5 * i)[None], sample_rate=RATE)
            lines.append(f"{path}\t{code}\t{code}\tsrc/{path}\t1.0\t2.0\n")
    (isfee / "labels.tsv").write_text("".join(lines))
    realdev = root / "realdev"
    for code, freq in (("cl", 330.0), ("vn", 880.0)):
        (realdev / "solos" / code).mkdir(parents=True)
        for i in range(2):
            sf.write(realdev / "solos" / code / f"clip_{i}.flac", tone(freq + i, 1.5), RATE)
    return isfee, realdev


def test_isfee_table_and_its_errors(shared, tmp_path):
    isfee, _ = shared
    clips = isfee_clips(isfee)
    assert {c: len(p) for c, p in clips.items()} == {"fl": 3, "tba": 1, "vn": 4}
    with pytest.raises(DatasetError, match="labels.tsv does not exist"):
        isfee_clips(tmp_path)
    (tmp_path / "labels.tsv").write_text("path\tinstruments\nvn/gone.mp4\tvn\n")
    with pytest.raises(DatasetError, match="gone.mp4 does not exist"):
        isfee_clips(tmp_path)


def test_split_is_half_and_half_per_instrument_fixed_and_disjoint(shared):
    clips = isfee_clips(shared[0])
    halves = split_clips(clips)
    assert halves == split_clips(clips)  # fixed seed
    assert {c: len(p) for c, p in halves["validation"].items()} == {"vn": 2, "fl": 1}
    assert {c: len(p) for c, p in halves["report"].items()} == {
        "vn": 2,
        "fl": 2,
        "tba": 1,
    }  # lone clip reports
    for code, paths in clips.items():
        val, rep = set(halves["validation"].get(code, [])), set(halves["report"].get(code, []))
        assert not val & rep and val | rep == set(paths)
    other = split_clips(clips, seed=1)
    assert any(other[h] != halves[h] for h in halves)


def test_real_clips_merge_videos_and_sound_files(shared, tmp_path):
    isfee, realdev = shared
    both = [real_clips(h, isfee, realdev) for h in ("validation", "report")]
    assert sum(len(p) for half in both for p in half.values()) == 12
    assert all(p.suffix == ".flac" for p in both[1]["cl"])
    only_isfee = real_clips("report", isfee, tmp_path / "none")
    assert "cl" not in only_isfee
    with pytest.raises(DatasetError, match="no real clips"):
        real_clips("report", tmp_path / "a", tmp_path / "b")
    with pytest.raises(ValueError, match="half"):
        real_clips("test", isfee, realdev)


def test_ensembles_are_real_parts_at_their_own_levels(shared):
    isfee, realdev = shared
    clips = {
        c: real_clips("report", isfee, realdev)[c] + real_clips("validation", isfee, realdev).get(c, [])
        for c in ("vn", "fl", "tba", "cl")
    }
    tracks = real_ensembles(clips, count=12, seed=3)
    assert len(tracks) == 12
    assert [t.name for t in tracks] == [t.name for t in real_ensembles(clips, count=12, seed=3)]
    sizes = {len(t.stems) for t in tracks}
    assert sizes <= {2, 3, 4} and len(sizes) > 1
    for track in tracks[:4]:
        stems = track.slot_audio(RATE, 1)
        mixture = track.mixture_audio(RATE, 1)
        np.testing.assert_allclose(sum(stems.values()), mixture, atol=1e-6)
        for code, part in stems.items():
            # the recording's own level (a 0.1 sine: RMS 0.0707; AAC keeps it within a few percent)
            assert np.sqrt(np.mean(part**2)) == pytest.approx(0.1 / np.sqrt(2), rel=0.08), code
        # cut to the shortest part: at most 1.5 s when a realdev clip is in it, else the videos'
        assert mixture.shape[-1] <= int(3.6 * RATE)
    video = clips["tba"][0]
    audio, rate = read_real_clip(video)
    assert rate == RATE and audio.shape[0] == 1 and abs(audio.shape[1] - 2.0 * RATE) < 0.05 * RATE
