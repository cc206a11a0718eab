"""The synthetic URMP-style corpus: layout, audio, annotations, video, boxes, split, bad input."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from vcsep import vocab
from vcsep.cli import main
from vcsep.datasets.synth import (
    SynthSettings,
    part_timbres,
    plan_corpus,
    render,
    synthesize_corpus,
    train_scores,
)
from vcsep.datasets.synth import corpus as corpus_module
from vcsep.datasets.synth.scores import pick_voices, score_sources
from vcsep.datasets.urmp_names import FOLDER_RE, PART_FILE_RE, PIECE_FILE_RE, PieceName, urmp_pieces

SIZE = (192, 108)
SETTINGS = SynthSettings(seed=7, size=SIZE, max_seconds=4.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(out, 3, SETTINGS)
    return out


def pieces(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.is_dir())


def test_layout_parses_back_with_urmp_names(corpus):
    folders = pieces(corpus)
    assert len(folders) == 3
    for folder in folders:
        m = FOLDER_RE.match(folder.name)
        assert m, folder.name
        codes = m["codes"].split("_")
        assert 2 <= len(codes) <= 5
        parts = {}
        piece_files = set()
        for f in folder.iterdir():
            if f.name.endswith(".boxes.csv"):
                continue
            part = PART_FILE_RE.match(f.name)
            whole = PIECE_FILE_RE.match(f.name)
            assert part or whole, f"{f.name} does not follow URMP's naming"
            if part:
                assert (part["number"], part["title"]) == (m["number"], m["title"])
                assert codes[int(part["part"]) - 1] == part["code"]
                parts.setdefault(int(part["part"]), set()).add(part["kind"])
            else:
                assert (whole["number"], whole["title"], whole["codes"]) == (
                    m["number"],
                    m["title"],
                    m["codes"],
                )
                piece_files.add(whole["kind"])
        assert piece_files == {"AuMix", "Vid", "Sco"}
        assert parts == {i: {"AuSep", "Notes", "F0s"} for i in range(1, len(codes) + 1)}


def test_instrument_combinations_are_urmp_ones(corpus):
    real = {p.codes for p in urmp_pieces()}
    assert len(urmp_pieces()) == 44
    for folder in pieces(corpus):
        assert PieceName.parse(folder.name).codes in real


def read_piece(folder: Path):
    name = PieceName.parse(folder.name)
    mix, sr = sf.read(folder / name.mix, dtype="float32")
    stems = [
        sf.read(folder / name.part_file("AuSep", i + 1), dtype="float32") for i in range(len(name.codes))
    ]
    return name, mix, sr, stems


def test_stems_are_audible_and_mix_is_their_sum(corpus):
    for folder in pieces(corpus):
        name, mix, sr, stems = read_piece(folder)
        assert sr == 48000
        # pieces fill --max-seconds (4 s here) and never run past it
        assert mix.ndim == 1 and 3 * sr < len(mix) <= 4 * sr
        for stem, stem_sr in stems:
            assert stem_sr == 48000 and stem.shape == mix.shape
            assert np.sqrt(np.mean(stem**2)) > 1e-3, f"silent stem in {folder.name}"
        total = np.sum([s for s, _ in stems], axis=0, dtype=np.float64)
        np.testing.assert_allclose(mix, total, atol=1e-6)
        assert np.abs(mix).max() <= 0.9 + 1e-6


def test_notes_and_f0s_follow_the_score(corpus):
    folder = pieces(corpus)[0]
    name = PieceName.parse(folder.name)
    for part, code in enumerate(name.codes, start=1):
        notes = np.loadtxt(folder / name.part_file("Notes", part), ndmin=2)
        f0 = np.loadtxt(folder / name.part_file("F0s", part), ndmin=2)
        assert notes.shape[1] == 3 and len(notes) > 3
        onset, hz, dur = notes.T
        assert np.all(np.diff(onset) > 0) and np.all(dur > 0)
        inst = vocab.BY_CODE[code]
        midi = 69 + 12 * np.log2(hz / 440)
        assert np.all((midi > inst.low - 0.01) & (midi < inst.high + 0.01)), "note outside the range"
        times, values = f0.T
        assert np.allclose(np.diff(times), 256 / 44100, atol=2e-6)
        inside = (times >= onset[0]) & (times < onset[0] + dur[0])
        # the F0s follow the player's tuning and vibrato: within 60 cents of the notated pitch
        assert np.all(np.abs(1200 * np.log2(values[inside] / hz[0])) < 60)
        voiced = values[values > 0]
        nearest = np.min(np.abs(1200 * np.log2(voiced[:, None] / hz[None, :])), axis=1)
        assert np.any(values == 0) and np.all(nearest < 60)


def test_video_has_both_streams_at_urmp_rate(corpus):
    folder = pieces(corpus)[1]
    name, mix, sr, _ = read_piece(folder)
    with av.open(str(folder / name.video)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.average_rate == Fraction(30000, 1001)
        assert (video.codec_context.width, video.codec_context.height) == SIZE
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert audio.rate == 48000
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == int(np.ceil(len(mix) / sr * 30000 / 1001))


def test_boxes_lie_inside_every_frame(corpus):
    for folder in pieces(corpus):
        name = PieceName.parse(folder.name)
        with open(folder / name.boxes) as f:
            rows = list(csv.DictReader(f))
        frames = {int(r["frame"]) for r in rows}
        assert len(rows) == len(frames) * len(name.codes)
        for r in rows:
            x1, y1, x2, y2 = (int(r[k]) for k in ("x1", "y1", "x2", "y2"))
            assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1]
            assert r["code"] == name.codes[int(r["part"]) - 1]


def test_split_by_title_keeps_every_instrument_in_train(corpus):
    with open(corpus / "split.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert sorted(r["folder"] for r in rows) == [p.name for p in pieces(corpus)]
    by_title: dict[str, set[str]] = {}
    for r in rows:
        by_title.setdefault(r["title"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_title.values())
    train = {c for r in rows if r["split"] == "train" for c in PieceName.parse(r["folder"]).codes}
    every = {c for r in rows for c in PieceName.parse(r["folder"]).codes}
    assert train == every


def test_record_of_scores_and_timbres(corpus):
    with open(corpus / "split.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    meta = {p["folder"]: p for p in json.loads((corpus / "corpus.json").read_text())["pieces"]}
    heard = train_scores([corpus])
    assert heard == sorted({meta[r["folder"]]["score"] for r in rows if r["split"] == "train"})
    assert all(meta[r["folder"]]["score"] not in heard for r in rows if r["split"] == "test")
    timbres = part_timbres(corpus)
    for folder in meta:
        codes = PieceName.parse(folder).codes
        assert set(timbres[folder]) == set(codes)
        assert all(played <= set(SETTINGS.timbres) and played for played in timbres[folder].values())


def test_variants_play_a_slots_family_in_its_own_registers(tmp_path):
    rng = np.random.default_rng(0)
    kinds = ("soundfont", "soundfont", "samples")
    drawn = [corpus_module.draw_instruments(("vn", "sax", "sax"), kinds, rng, True) for _ in range(100)]
    assert {d[0] for d in drawn} == {vocab.BY_CODE["vn"]}  # a slot without a family is itself
    assert {d[1] for d in drawn} == set(vocab.VARIANTS["sax"])
    assert {d[2] for d in drawn} == {vocab.BY_CODE["sax"]}  # recorded notes play what they recorded
    assert corpus_module.draw_instruments(("sax",), kinds[:1], rng, False) == [vocab.BY_CODE["sax"]]
    # seed 25's first piece is a sax duet: each part in the register of the member it drew
    synthesize_corpus(tmp_path, 1, SynthSettings(seed=25, size=SIZE, max_seconds=3.0, variants=True))
    piece = json.loads((tmp_path / "corpus.json").read_text())["pieces"][0]
    folder, name = tmp_path / piece["folder"], PieceName.parse(piece["folder"])
    assert name.codes == ("sax", "sax")
    by_name = {v.name: v for v in vocab.VARIANTS["sax"]}
    for number, part in enumerate(piece["parts"], start=1):
        member = by_name[part["instrument"]]
        midi = 69 + 12 * np.log2(np.loadtxt(folder / name.part_file("Notes", number), ndmin=2)[:, 1] / 440)
        assert np.all((midi > member.low - 0.01) & (midi < member.high + 0.01))
        assert np.abs(sf.read(folder / name.part_file("AuSep", number))[0]).max() > 0.01


def test_larger_split_holds_out_a_quarter_of_titles():
    plans = plan_corpus(40, seed=3)
    split = corpus_module.split_titles(plans, seed=3)
    test_titles = [t for t, s in split.items() if s == "test"]
    assert abs(len(test_titles) - round(0.25 * len(split))) <= 1
    train_codes = {c for p in plans if split[p.name.title] == "train" for c in p.name.codes}
    assert train_codes == {c for p in plans for c in p.name.codes}


def test_same_seed_same_audio_with_any_number_of_jobs(corpus, tmp_path):
    synthesize_corpus(tmp_path / "again", 2, SETTINGS, jobs=2)
    for folder in pieces(corpus)[:2]:
        again = tmp_path / "again" / folder.name
        assert again.is_dir()
        for wav in folder.glob("*.wav"):
            a, _ = sf.read(wav, dtype="float32")
            b, _ = sf.read(again / wav.name, dtype="float32")
            np.testing.assert_array_equal(a, b)


def test_score_voices_are_chosen_outer_first():
    assert pick_voices(4, 2) == [0, 3]
    assert pick_voices(4, 4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="cannot give 5 parts"):
        pick_voices(4, 5)
    sources = score_sources()
    assert len(sources) > 400 and any(s.parts == 5 for s in sources)
    assert all(s.title.isalnum() for s in sources)


def test_missing_fluidsynth_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(render.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(FileNotFoundError, match="Debian package fluidsynth"):
        synthesize_corpus(tmp_path / "c", 1, SETTINGS)
    assert not (tmp_path / "c").exists()


def test_missing_soundfont_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(render, "SOUNDFONTS", (tmp_path / "none.sf2",))
    with pytest.raises(FileNotFoundError, match="fluid-soundfont-gm"):
        synthesize_corpus(tmp_path / "c", 1, SETTINGS)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        synthesize_corpus(tmp_path / "c", 1, SynthSettings(soundfont=tmp_path / "missing.sf2"))


def test_too_many_pieces_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at most 99"):
        synthesize_corpus(tmp_path / "c", 100, SETTINGS)
    with pytest.raises(ValueError, match="at least 1"):
        synthesize_corpus(tmp_path / "c", 0, SETTINGS)


def test_not_enough_scores_is_refused(monkeypatch):
    few = score_sources()[:5]
    monkeypatch.setattr(corpus_module, "score_sources", lambda: few)
    with pytest.raises(ValueError, match="only 5 scores are available"):
        plan_corpus(6, seed=0)


def test_non_empty_output_needs_overwrite(tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        synthesize_corpus(out, 1, SETTINGS)
    stale = out / "05_Old_vn_vc"
    stale.mkdir()
    synthesize_corpus(out, 1, SETTINGS, overwrite=True)
    assert not stale.exists() and (out / "notes.txt").exists()
    assert len(pieces(out)) == 1


def test_interrupted_run_leaves_only_complete_pieces(monkeypatch, tmp_path):
    real = corpus_module.write_performance_video
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(corpus_module, "write_performance_video", failing)
    out = tmp_path / "c"
    with pytest.raises(KeyboardInterrupt):
        synthesize_corpus(out, 3, SETTINGS)
    left = list(out.iterdir())
    assert len(left) == 1 and FOLDER_RE.match(left[0].name)
    assert len(list(left[0].iterdir())) == 3 * len(PieceName.parse(left[0].name).codes) + 4


def test_cli_synth_end_to_end(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(
        [
            "synth",
            "--out",
            str(out),
            "--pieces",
            "1",
            "--seed",
            "2",
            "--size",
            "320x180",
            "--max-seconds",
            "3",
        ]
    )
    assert code == 0
    assert "wrote 1 pieces" in capsys.readouterr().out
    (folder,) = pieces(out)
    with av.open(str(folder / PieceName.parse(folder.name).video)) as c:
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (320, 180)
    assert main(["synth", "--out", str(out), "--pieces", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "--out", str(out), "--pieces", "1", "--size", "big"])


def test_cli_help_lists_working_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "synth" in text and "demo" in text
