"""Every dataset layout, built tiny by the test in its exact official form, through one interface."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from vcsep import vocab
from vcsep.datasets import DatasetError, load_dataset, vocabulary_of
from vcsep.datasets.urmp import load_urmp, urmp_split
from vcsep.datasets.urmp_names import PieceName, urmp_pieces
from vcsep.vocab import MUSDB2, MUSDB4


def tone(freq: float, seconds: float, rate: int, channels: int = 1, amp: float = 0.3) -> np.ndarray:
    """A sine tone, float32 [N, C] as soundfile writes it."""
    t = np.arange(int(seconds * rate)) / rate
    return np.repeat((amp * np.sin(2 * np.pi * freq * t))[:, None], channels, axis=1).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, subtype="FLOAT")
    return path


def make_urmp_piece(
    root: Path, number: int, title: str, codes: tuple[str, ...], file_codes=None, seconds=0.5
):
    name = PieceName(number, title, codes)
    folder = root / name.folder
    stems = []
    for part, code in enumerate(file_codes or codes, start=1):
        audio = tone(220.0 * part, seconds, 48000)
        stems.append(audio)
        write(folder / f"AuSep_{part}_{code}_{number:02d}_{title}.wav", audio, 48000)
        (folder / f"Notes_{part}_{code}_{number:02d}_{title}.txt").write_text("0.1\t220.0\t0.3\n")
    write(folder / name.mix, np.sum(stems, axis=0), 48000)
    return folder


@pytest.fixture
def urmp_root(tmp_path) -> Path:
    root = tmp_path / "URMP"
    make_urmp_piece(root, 1, "Jupiter", ("vn", "vc"))
    make_urmp_piece(root, 2, "Sonata", ("vn", "vn"))
    make_urmp_piece(root, 15, "Surprise", ("tpt", "tpt", "tbn"), file_codes=("tpt", "tpt", "tpt"))
    (root / "README.txt").write_text("not a piece")
    return root


def test_urmp_reads_official_layout(urmp_root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracks = load_urmp(urmp_root)
    assert [t.name for t in tracks] == ["01_Jupiter_vn_vc", "02_Sonata_vn_vn", "15_Surprise_tpt_tpt_tbn"]
    jupiter, sonata, surprise = tracks
    assert jupiter.codes == ["vn", "vc"] and jupiter.title == "Jupiter" and jupiter.sample_rate == 48000
    np.testing.assert_array_equal(jupiter.labels, vocab.multi_hot(["vn", "vc"]))
    assert jupiter.notes["vn"][0].name == "Notes_1_vn_01_Jupiter.txt"
    # the known quirk: the folder, not the file name, says the third part is a trombone
    assert surprise.codes == ["tpt", "tbn"] and len(surprise.stems["tpt"]) == 2
    assert any("known URMP quirk" in str(w.message) for w in caught)
    # two players of one instrument share its slot: their stems are summed
    slots = sonata.slot_audio(48000, 1)
    assert list(slots) == ["vn"]
    a = sf.read(urmp_root / sonata.name / "AuSep_1_vn_02_Sonata.wav", dtype="float32")[0]
    b = sf.read(urmp_root / sonata.name / "AuSep_2_vn_02_Sonata.wav", dtype="float32")[0]
    np.testing.assert_allclose(slots["vn"][0], a + b, atol=1e-7)
    # resampled on request, mono to stereo by copying
    stereo = jupiter.slot_audio(22050, 2)["vc"]
    assert stereo.shape == (2, 11025) and np.array_equal(stereo[0], stereo[1])
    mix = jupiter.mixture_audio(22050, 1)
    np.testing.assert_allclose(mix, sum(jupiter.slot_audio(22050, 1).values()), atol=1e-4)


def test_urmp_split_file_is_33_11_by_title_with_every_instrument_in_train():
    split = urmp_split()
    pieces = {PieceName(p.number, p.title, p.codes).folder: p for p in urmp_pieces()}
    assert set(split) == set(pieces)
    assert sum(v == "train" for v in split.values()) == 33 and sum(v == "test" for v in split.values()) == 11
    sides = {}
    for folder, side in split.items():
        sides.setdefault(pieces[folder].title, set()).add(side)
    assert all(len(s) == 1 for s in sides.values()), "a title on both sides"
    train = {c for f, s in split.items() if s == "train" for c in pieces[f].codes}
    assert train == set(vocab.CODES)


def test_urmp_layout_errors(tmp_path):
    root = tmp_path / "bad"
    folder = make_urmp_piece(root, 1, "Jupiter", ("vn", "vc"))
    (folder / "AuSep_2_vc_01_Jupiter.wav").unlink()
    with pytest.raises(DatasetError, match="missing stem of part 2"):
        load_urmp(root)
    with pytest.raises(DatasetError, match="no URMP piece folders"):
        load_urmp(tmp_path / "bad" / "01_Jupiter_vn_vc")
    with pytest.raises(DatasetError, match="does not exist"):
        load_urmp(tmp_path / "nowhere")
    unknown = tmp_path / "unknown"
    (unknown / "03_Dance_fl_kazoo").mkdir(parents=True)
    with pytest.raises(DatasetError, match="unknown instrument code 'kazoo'"):
        load_urmp(unknown)


def test_stems_of_different_lengths(tmp_path):
    root = tmp_path / "stems"
    write(root / "t" / "vn.wav", tone(440, 1.0, 22050), 22050)
    write(root / "t" / "vc.wav", tone(110, 1.005, 22050), 22050)  # 5 ms longer: padded
    (track,) = load_dataset(f"stems:{root}")
    slots = track.slot_audio(22050, 1)
    assert slots["vn"].shape == slots["vc"].shape == (1, int(1.005 * 22050))
    assert np.all(slots["vn"][0, 22050:] == 0)
    write(root / "t" / "vc.wav", tone(110, 1.5, 22050), 22050)  # half a second: an error
    (track,) = load_dataset(f"stems:{root}")
    with pytest.raises(DatasetError, match="different lengths"):
        track.slot_audio(16000, 1)


def test_stem_folders_codes_names_and_players(tmp_path):
    root = tmp_path / "stems"
    write(root / "duet" / "violin.wav", tone(440, 0.5, 44100, 2), 44100)
    write(root / "duet" / "vn_2.wav", tone(660, 0.5, 44100, 2), 44100)
    write(root / "duet" / "double_bass.wav", tone(55, 0.5, 44100, 2), 44100)
    write(root / "duet" / "mixture.wav", tone(440, 0.5, 44100, 2), 44100)
    (track,) = load_dataset(f"stems:{root}")
    assert track.codes == ["vn", "db"] and len(track.stems["vn"]) == 2
    assert track.sample_rate == 44100 and track.mixture.name == "mixture.wav"
    write(root / "duet" / "kazoo.wav", tone(440, 0.5, 44100), 44100)
    with pytest.raises(DatasetError, match="unknown instrument 'kazoo'"):
        load_dataset(f"stems:{root}")


def test_several_datasets_read_as_one(tmp_path):
    for name, freq in (("a", 440), ("b", 220)):
        write(tmp_path / name / "t" / "vn.wav", tone(freq, 0.5, 22050), 22050)
    tracks = load_dataset([f"stems:{tmp_path / 'a'}", f"stems:{tmp_path / 'b'}"])
    assert [t.stems["vn"][0].parent.parent.name for t in tracks] == ["a", "b"]
    assert vocabulary_of([f"stems:{tmp_path / 'a'}", f"urmp:{tmp_path / 'b'}"]) == vocab.URMP
    with pytest.raises(ValueError, match="different sources"):
        load_dataset([f"stems:{tmp_path / 'a'}", f"musdb4:{tmp_path / 'b'}"])
    with pytest.raises(ValueError, match="no dataset given"):
        load_dataset([])


def test_unreadable_wav_names_the_file(tmp_path):
    root = tmp_path / "stems"
    (root / "t").mkdir(parents=True)
    (root / "t" / "vn.wav").write_bytes(b"RIFF not really a wave file")
    with pytest.raises(DatasetError, match=r"vn\.wav: cannot read audio"):
        load_dataset(f"stems:{root}")


def test_empty_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no track folders"):
        load_dataset(f"stems:{tmp_path / 'empty'}")
    with pytest.raises(ValueError, match="KIND:PATH"):
        load_dataset(str(tmp_path))


def test_bach10_layout(tmp_path):
    root = tmp_path / "Bach10"
    for i, title in enumerate(["01-AchGottundHerr", "02-AchLiebenChristen"]):
        for j, name in enumerate(["violin", "clarinet", "saxphone", "bassoon"]):
            write(root / title / f"{title}-{name}.wav", tone(200 + 100 * j, 0.4, 44100), 44100)
        if i == 0:
            write(root / title / f"{title}.wav", tone(300, 0.4, 44100), 44100)
    tracks = load_dataset(f"bach10:{root}")
    assert [t.codes for t in tracks] == [["vn", "cl", "sax", "bn"]] * 2
    assert tracks[0].mixture is not None and tracks[1].mixture is None
    assert tracks[1].mixture_audio(44100, 1).shape == (1, int(0.4 * 44100))
    (root / "02-AchLiebenChristen" / "02-AchLiebenChristen-bassoon.wav").unlink()
    with pytest.raises(DatasetError, match="missing stem 02-AchLiebenChristen-bassoon.wav"):
        load_dataset(f"bach10:{root}")


def make_medleydb_track(root: Path, name: str, stems: dict[str, str]) -> None:
    folder = root / "Audio" / name
    meta = {"artist": "A", "title": name, "stems": {}}
    for i, (stem_id, instrument) in enumerate(stems.items(), start=1):
        filename = f"{name}_STEM_{i:02d}.wav"
        write(folder / f"{name}_STEMS" / filename, tone(100 * i, 0.3, 44100, 2), 44100)
        meta["stems"][stem_id] = {"filename": filename, "instrument": instrument, "component": ""}
    write(folder / f"{name}_MIX.wav", tone(100, 0.3, 44100, 2), 44100)
    (folder / f"{name}_METADATA.yaml").write_text(yaml.safe_dump(meta))


def test_medleydb_layout_and_unmapped_policy(tmp_path):
    root = tmp_path / "MedleyDB"
    make_medleydb_track(root, "Artist_Quartet", {"S01": "violin", "S02": "viola", "S03": "cello"})
    make_medleydb_track(
        root, "Artist_Band", {"S01": "drum set", "S02": "alto saxophone", "S03": "violin section"}
    )
    tracks = load_dataset(f"medleydb:{root}")
    band, quartet = tracks
    assert quartet.codes == ["vn", "va", "vc"] and not quartet.residual
    assert band.codes == ["vn", "sax"] and len(band.residual) == 1
    from vcsep.datasets.medleydb import load_medleydb

    assert [t.name for t in load_medleydb(root, unmapped="skip")] == ["Artist_Quartet"]
    with pytest.raises(DatasetError, match="'drum set' has no slot"):
        load_medleydb(root, unmapped="error")


def make_musdb_hq(root: Path) -> None:
    for subset, names in {"train": ["A - One", "B - Two"], "test": ["C - Three"]}.items():
        for name in names:
            for k, target in enumerate(["mixture", "vocals", "drums", "bass", "other"]):
                write(root / subset / name / f"{target}.wav", tone(100 + 50 * k, 0.3, 44100, 2), 44100)


def test_musdb_through_the_musdb_package(tmp_path):
    root = tmp_path / "musdb18hq"
    make_musdb_hq(root)
    four = load_dataset(f"musdb4-hq:{root}", split="train")
    assert [t.name for t in four] == ["A - One", "B - Two"]
    assert four[0].vocabulary == MUSDB4 and four[0].codes == ["vocals", "drums", "bass", "other"]
    vocals = four[0].slot_audio(44100, 2)["vocals"]
    np.testing.assert_allclose(vocals.T, tone(150, 0.3, 44100, 2), atol=1e-4)
    two = load_dataset(f"musdb2-hq:{root}", split="test")
    assert two[0].vocabulary == MUSDB2 and two[0].codes == ["vocals", "accompaniment"]
    accompaniment = two[0].slot_audio(44100, 2)["accompaniment"]
    expected = sum(tone(100 + 50 * k, 0.3, 44100, 2) for k in (2, 3, 4))
    np.testing.assert_allclose(accompaniment.T, expected, atol=1e-4)
    with pytest.raises(DatasetError, match="has no valid/ subset"):
        load_dataset(f"musdb4-hq:{root}", split="valid")


def test_synthetic_corpus_loads_like_urmp(tmp_path):
    from vcsep.datasets.synth import SynthSettings, synthesize_corpus

    synthesize_corpus(tmp_path / "c", 3, SynthSettings(seed=4, size=(128, 72), max_seconds=2.0))
    tracks = load_dataset(f"urmp:{tmp_path / 'c'}")
    assert len(tracks) == 3 and all(t.video is not None for t in tracks)
    train = load_dataset(f"urmp:{tmp_path / 'c'}", split="train")
    test = [t for t in tracks if t not in train]
    assert {t.name for t in train} | {t.name for t in test} == {t.name for t in tracks}
    for track in tracks:
        mix = track.mixture_audio(22050, 1)
        np.testing.assert_allclose(mix, sum(track.slot_audio(22050, 1).values()), atol=1e-4)
