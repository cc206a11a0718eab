"""The realnotes timbre source and vcsep's sampler: every instrument renders from a notes folder,
pitch is checked and corrected, sustains extend without clicks, dynamics, detached notes, legato."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from vcsep import vocab
from vcsep.cli import main
from vcsep.datasets.synth import sampler
from vcsep.datasets.synth.render import SAMPLE_RATE, PlayedNote
from vcsep.datasets.synth.sampler import Sample, choose, measure_cents, play, yin
from vcsep.datasets.synth.timbres import (
    RATE_SLIP_CENTS,
    in_tune,
    realnotes_banks,
    render_samples,
    timbre_source,
)

RATE = 44100  # the folder's own rate, as ../shared/realnotes


def hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def tone(freq: float, seconds: float = 1.2, decay: bool = False, level: float = 0.05) -> np.ndarray:
    """A recorded note stand-in at 44.1 kHz: 0.2 s of silence, a 30 ms attack, six harmonics with
    a slow tremolo (so a grain is never a copy of its neighbour), sustained or decaying."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 7))
    envelope = np.minimum(t / 0.03, 1.0) * (
        np.exp(-t / 0.15) if decay else 1 + 0.1 * np.sin(2 * np.pi * 3 * t)
    )
    return np.concatenate([np.zeros(int(0.2 * RATE)), level * wave * envelope]).astype(np.float32)


def write_notes(root, rows: list[tuple[str, int, str, str, np.ndarray]]) -> None:
    """A realnotes folder: FLAC files and ``notes.tsv`` (path, code, source, midi, dynamic)."""
    lines = ["path\tcode\tsource\tmidi\tarticulation_dynamic\tlicence\n"]
    for i, (code, midi, source, mark, audio) in enumerate(rows):
        path = f"{code}/n{i}.flac"
        (root / code).mkdir(parents=True, exist_ok=True)
        sf.write(root / path, audio, RATE)
        lines.append(f"{path}\t{code}\t{source}\t{midi}\t{mark}\ttest\n")
    (root / "notes.tsv").write_text("".join(lines))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh timbre cache and empty per-process caches, so each test measures its own folder."""
    monkeypatch.setenv("VCSEP_TIMBRE_CACHE", str(tmp_path / "cache"))
    realnotes_banks.cache_clear()
    sampler.take.cache_clear()
    yield
    realnotes_banks.cache_clear()
    sampler.take.cache_clear()


@pytest.fixture
def two_notes_each(tmp_path, cache):
    """Two notes of each of the 13 instruments, a fifth apart around its range's centre."""
    root = tmp_path / "realnotes"
    rows = []
    for code in vocab.CODES:
        centre = int(round(vocab.BY_CODE[code].centre))
        rows += [(code, p, "test", "", tone(hz(p))) for p in (centre - 3, centre + 4)]
    write_notes(root, rows)
    return root


def f0_of(audio: np.ndarray) -> float:
    """Median YIN fundamental (Hz) of the middle of a 48 kHz tone."""
    f0 = yin(audio[len(audio) // 4 : 3 * len(audio) // 4], SAMPLE_RATE, 30.0, 3000.0)
    return float(np.nanmedian(f0))


def test_every_instrument_renders_at_the_notes_pitch(two_notes_each):
    source = timbre_source("realnotes", realnotes=two_notes_each)
    assert source.codes == vocab.CODES and source.kind == "samples"
    for code in vocab.CODES:
        pitch = int(round(vocab.BY_CODE[code].centre))  # between the recordings: shifted, 3 semitones
        audio = render_samples(code, [PlayedNote(0.05, 1.0, pitch, 100)], SAMPLE_RATE + 9600, source)
        assert np.sqrt(np.mean(audio**2)) > 1e-3, code
        cents = 1200 * np.log2(f0_of(audio[2400 : 2400 + SAMPLE_RATE]) / hz(pitch))
        assert abs(cents) < 15, f"{code}: {cents:.1f} cents off"


def test_synth_cli_renders_a_corpus_from_realnotes(two_notes_each, tmp_path, capsys):
    out = tmp_path / "corpus"
    code = main(
        [
            "synth",
            "--out",
            str(out),
            "--pieces",
            "2",
            "--seed",
            "3",
            "--max-seconds",
            "2",
            "--size",
            "96x64",
            "--timbres",
            "realnotes",
            "--realnotes",
            str(two_notes_each),
            "--preview",
        ]
    )
    assert code == 0
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["settings"]["realnotes"] == str(two_notes_each.resolve())
    assert meta["timbre_sources"]["realnotes"]["instruments"] == list(vocab.CODES)
    for piece in meta["pieces"]:
        assert {p["timbre"] for p in piece["parts"]} == {"realnotes"}
        for stem in (out / piece["folder"]).glob("AuSep_*.wav"):
            assert np.abs(sf.read(stem)[0]).max() > 1e-3, stem
    assert (out / "preview.html").is_file()


def test_missing_folder_names_the_flag(tmp_path, cache):
    with pytest.raises(FileNotFoundError, match="--realnotes"):
        timbre_source("realnotes", realnotes=tmp_path / "nowhere")
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path / "c"),
                "--pieces",
                "1",
                "--timbres",
                "fluidr3",
                "--realnotes",
                str(tmp_path),
            ]
        )
        == 2
    )


def test_pitch_check_drops_a_mislabelled_note_and_retunes_the_rest(tmp_path, cache):
    root = tmp_path / "realnotes"
    write_notes(
        root,
        [
            ("fl", 69, "test", "", tone(hz(69.25))),  # 25 cents sharp: retuned
            ("fl", 71, "test", "", tone(hz(74))),  # a fourth off its label: dropped
            ("cl", 64, "test", "", tone(hz(64) * 48000 / 44100)),  # a 48 kHz take labelled 44.1 kHz
        ],
    )
    assert measure_cents(root / "fl/n0.flac", 69) == pytest.approx(25, abs=3)
    banks = realnotes_banks(root.resolve())
    assert [s.pitch for s in banks["fl"]] == [69] and banks["fl"][0].cents == pytest.approx(25, abs=3)
    assert banks["cl"][0].cents == pytest.approx(RATE_SLIP_CENTS, abs=3)
    assert in_tune(-140.0) and in_tune(40.0) and not in_tune(100.0) and not in_tune(500.0)
    audio = render_samples(
        "fl", [PlayedNote(0.0, 0.8, 69, 100)], SAMPLE_RATE, timbre_source("realnotes", realnotes=root)
    )
    assert 1200 * np.log2(f0_of(audio) / hz(69)) == pytest.approx(0, abs=5)


def test_a_long_note_is_sustained_without_clicks_or_gaps(tmp_path, cache):
    path = tmp_path / "a.flac"
    sf.write(path, tone(hz(57), seconds=0.9), RATE)
    audio = play((Sample(57, path),), [PlayedNote(0.0, 4.0, 57, 127)], 5 * SAMPLE_RATE)
    body = audio[int(0.3 * SAMPLE_RATE) : int(3.9 * SAMPLE_RATE)]
    frames = np.sqrt(np.mean(body[: len(body) // 480 * 480].reshape(-1, 480) ** 2, axis=1))
    assert frames.min() > 0.6 * np.median(frames)  # no dip where grains join (tremolo is +-10 %)
    # no click: no step larger than the tone's own steepest (its six harmonics at 220 Hz)
    reference = np.abs(np.diff(tone(hz(57))[int(0.4 * RATE) :] * (0.1 / 0.05))).max() * RATE / SAMPLE_RATE
    assert np.abs(np.diff(body)).max() < 1.5 * reference
    assert 1200 * abs(np.log2(f0_of(body) / hz(57))) < 10
    assert np.abs(audio[int(4.2 * SAMPLE_RATE) :]).max() == 0  # released after 120 ms


def test_dynamics_choose_a_recorded_layer_or_darken(tmp_path, cache):
    soft, loud, pizz = (
        Sample(40, tmp_path / f"{n}.flac", d, s)
        for n, d, s in (("p", 0.3, False), ("f", 0.75, False), ("pz", 0.75, True))
    )
    bank = (soft, loud, pizz)
    assert choose(bank, PlayedNote(0, 1, 40, 40), 0) is soft
    assert choose(bank, PlayedNote(0, 1, 41, 110), 0) is loud
    assert choose(bank, PlayedNote(0, 0.2, 40, 110, detached=True), 0) is pizz
    assert choose((soft, loud), PlayedNote(0, 0.2, 40, 110, detached=True), 0) is loud  # no detached one
    rr = (Sample(40, tmp_path / "a.flac"), Sample(40, tmp_path / "b.flac"))
    assert [choose(rr, PlayedNote(0, 1, 40, 90), i).path.name for i in range(3)] == [
        "a.flac",
        "b.flac",
        "a.flac",
    ]
    # one recorded dynamic: a soft note is quieter and darker (less energy above 2 kHz, relatively)
    path = tmp_path / "one.flac"
    sf.write(path, tone(hz(57)), RATE)

    def treble_share(velocity: int) -> tuple[float, float]:
        audio = play((Sample(57, path),), [PlayedNote(0.0, 1.0, 57, velocity)], SAMPLE_RATE)
        spectrum = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
        return float(np.sqrt(np.mean(audio**2))), float(spectrum[freqs > 1000].sum() / spectrum.sum())

    (quiet, dark), (strong, bright) = treble_share(40), treble_share(120)
    assert quiet < 0.3 * strong and dark < 0.7 * bright


def test_a_detached_recording_decays_and_legato_notes_join(tmp_path, cache):
    plucked, bowed = tmp_path / "pz.flac", tmp_path / "arco.flac"
    sf.write(plucked, tone(hz(40), decay=True), RATE)
    sf.write(bowed, tone(hz(40)), RATE)
    bank = (Sample(40, bowed), Sample(40, plucked, short=True))
    audio = play(bank, [PlayedNote(0.0, 0.6, 40, 100, detached=True)], SAMPLE_RATE)
    early, late = (np.sqrt(np.mean(audio[a : a + 4800] ** 2)) for a in (2400, 24000))
    assert late < 0.2 * early  # the plucked recording's own decay, not a sustain
    # two legato notes: no gap and no second attack at the join; detached ones leave a gap
    legato = play(bank, [PlayedNote(0.0, 0.5, 40, 100), PlayedNote(0.52, 0.5, 42, 100)], SAMPLE_RATE)
    apart = play(bank, [PlayedNote(0.0, 0.3, 40, 100), PlayedNote(0.52, 0.3, 42, 100)], SAMPLE_RATE)
    frames = lambda x: np.sqrt(np.mean(x[:48000].reshape(-1, 480) ** 2, axis=1))  # noqa: E731
    assert frames(legato)[45:57].min() > 0.5 * np.median(frames(legato)[10:40])
    assert frames(apart)[45:50].max() < 0.05 * np.median(frames(apart)[10:25])
