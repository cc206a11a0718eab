"""Issue 14's corpus stages: timbre sources, expressive players, rooms, the held-out timbre split,
input-chain augmentation, real-solo ensembles, packed corpora, the preview page, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy import signal

from vcsep import vocab
from vcsep.cli import main
from vcsep.datasets import InMemoryMixer, MixConfig, Segment, load_dataset
from vcsep.datasets.augment import InputChain, band_limit, codec_round_trip, degrade
from vcsep.datasets.solos import load_solo_ensembles
from vcsep.datasets.synth import SynthSettings, plan_corpus, synthesize_corpus
from vcsep.datasets.synth.acoustics import draw_room, impulse_responses
from vcsep.datasets.synth.corpus import draw_timbres, split_titles
from vcsep.datasets.synth.expression import CONTROL_RATE, apply_vibrato, control_length, vibrato_depth
from vcsep.datasets.synth.pack import pack_corpus, unpack_corpus
from vcsep.datasets.synth.preview import write_preview
from vcsep.datasets.synth.render import SAMPLE_RATE, PlayedNote, render_part
from vcsep.datasets.synth.sf2subset import program_samples
from vcsep.datasets.synth.timbres import SOURCES, TimbreSource, own_codes, render_samples, timbre_source
from vcsep.datasets.urmp import load_urmp
from vcsep.datasets.urmp_names import PieceName

REALDEV = Path(os.environ.get("VCSEP_REALDEV") or Path(__file__).resolve().parents[3] / "shared" / "realdev")


def installed(name: str) -> TimbreSource | None:
    try:
        return timbre_source(name)
    except (FileNotFoundError, ValueError):
        return None


INSTALLED = tuple(n for n in SOURCES if installed(n) is not None)
needs_two = pytest.mark.skipif(len(INSTALLED) < 2, reason=f"only {INSTALLED} installed (make setup)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Every stage on, every installed source, one held out: 4 pieces of 3 s."""
    if len(INSTALLED) < 2:
        pytest.skip(f"only {INSTALLED} installed (make setup)")
    out = tmp_path_factory.mktemp("real")
    holdout = "tonejs" if "tonejs" in INSTALLED else INSTALLED[-1]
    settings = SynthSettings(
        seed=11, size=(96, 54), max_seconds=3.0, timbres=INSTALLED, holdout_timbre=holdout
    )
    synthesize_corpus(out, 4, settings, jobs=2)
    return out


def f0_of(audio: np.ndarray) -> float:
    """Fundamental (Hz) of a steady tone by autocorrelation over 40-1500 Hz."""
    x = audio[len(audio) // 4 : len(audio) // 4 + 8192].astype(np.float64)
    x -= x.mean()
    corr = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    lo, hi = SAMPLE_RATE // 1500, SAMPLE_RATE // 40
    lag = lo + int(np.argmax(corr[lo:hi]))
    return SAMPLE_RATE / lag


@pytest.mark.parametrize("name", SOURCES)
def test_each_timbre_source_renders_every_instrument_it_claims(name):
    source = installed(name)
    if source is None:
        pytest.skip(f"timbre source {name} is not installed (make setup)")
    assert len(source.codes) == {"tonejs": 11, "timgm6mb": 6, "csound": 5}.get(name, 13)
    for code in source.codes:
        pitch = int(round(vocab.BY_CODE[code].centre))
        note = [PlayedNote(0.05, 0.9, pitch, 100)]
        n = SAMPLE_RATE
        if source.kind == "soundfont":
            audio = render_part(vocab.BY_CODE[code].gm_program, note, n, source.path)
        else:
            audio = render_samples(code, note, n, source)
        assert np.sqrt(np.mean(audio**2)) > 1e-3, f"{name} {code} is silent"
        expected = 440.0 * 2 ** ((pitch - 69) / 12)
        # autocorrelation may land an octave off on reedy or brassy tones, never elsewhere
        ratio = f0_of(audio) / expected
        assert min(abs(np.log2(ratio) - k) for k in (-1, 0, 1)) < 0.05, f"{name} {code}: f0 ratio {ratio:.3f}"


def test_small_gm_banks_play_only_instruments_with_samples_of_their_own():
    bank, fluid = installed("timgm6mb"), installed("fluidr3")
    if bank is None or fluid is None:
        pytest.skip("timgm6mb-soundfont or fluid-soundfont-gm is not installed (make setup)")
    violin, viola, cello, bass, flute = 40, 41, 42, 43, 73
    samples = program_samples(bank.path, [violin, viola, cello, bass, flute, 128])
    assert 128 not in samples  # no such GM program: left out, no error
    assert samples[viola] == samples[violin] and samples[bass] & samples[cello]
    assert not samples[flute] & (samples[violin] | samples[cello])
    assert bank.codes == ("fl", "ob", "cl", "sax", "bn", "tpt")
    assert own_codes(fluid.path) == vocab.CODES  # FluidR3 has samples of its own for every instrument


def test_a_missing_gm_bank_names_its_debian_package(tmp_path, monkeypatch):
    from vcsep.datasets.synth import timbres

    monkeypatch.setitem(timbres.GM_BANKS, "csound", (tmp_path / "gone.sf2", "csound-soundfont"))
    with pytest.raises(FileNotFoundError, match="apt-get install csound-soundfont"):
        timbre_source("csound")


def test_tuning_offset_moves_the_pitch():
    source = installed("fluidr3")
    if source is None:
        pytest.skip("FluidR3 not installed")
    note = [PlayedNote(0.0, 1.0, 69, 100)]
    plain = f0_of(render_part(73, note, SAMPLE_RATE, source.path))
    sharp = f0_of(render_part(73, note, SAMPLE_RATE, source.path, tuning_cents=40.0))
    assert sharp / plain == pytest.approx(2 ** (40 / 1200), abs=0.006)


def test_vibrato_swings_the_pitch_by_its_depth():
    n = 2 * SAMPLE_RATE
    tone = np.sin(2 * np.pi * 440 * np.arange(n) / SAMPLE_RATE).astype(np.float32)
    depth = np.full(control_length(n), 50.0)
    out, cents = apply_vibrato(tone, depth, 5.0, 0.0)
    assert np.abs(cents).max() == pytest.approx(50.0, abs=0.01)
    crossings = np.flatnonzero((out[:-1] < 0) & (out[1:] >= 0))
    freq = SAMPLE_RATE / np.diff(crossings)
    assert freq.max() == pytest.approx(440 * 2 ** (50 / 1200), rel=0.01)
    assert freq.min() == pytest.approx(440 * 2 ** (-50 / 1200), rel=0.01)
    # the read position stays within a millisecond of the original timing
    assert abs(len(crossings) - 880) <= 2
    notes = [PlayedNote(0.0, 0.3, 60, 90), PlayedNote(0.5, 1.4, 62, 90)]
    d = vibrato_depth(notes, control_length(n), 30.0)  # at CONTROL_RATE
    assert d[: int(0.1 * CONTROL_RATE)].max() < 1.0  # no vibrato on the attack
    assert d[: int(0.3 * CONTROL_RATE)].max() < d[int(1.5 * CONTROL_RATE)] == pytest.approx(30.0, abs=0.5)


def test_room_impulse_responses_decay_with_the_rooms_rt60():
    rng = np.random.default_rng(0)
    for _ in range(3):
        room = draw_room(3, rng)
        irs = impulse_responses(room, np.random.default_rng(1))
        assert irs.shape[0] == 3 and irs.shape[1] <= int(2.5 * SAMPLE_RATE)
        assert min(int(np.argmax(np.abs(h))) for h in irs) == 32  # nearest direct sound on time
        # RT60 is the mid-frequency one (high bands decay faster): Schroeder integral of the
        # 500-2000 Hz band, -5 to -25 dB slope extrapolated to 60 dB
        mid = signal.sosfilt(signal.butter(4, (500, 2000), "bandpass", fs=SAMPLE_RATE, output="sos"), irs[0])
        energy = np.cumsum(mid[::-1].astype(np.float64) ** 2)[::-1]
        db = 10 * np.log10(energy / energy[0])
        t5, t25 = np.argmax(db < -5), np.argmax(db < -25)
        rt60 = 3 * (t25 - t5) / SAMPLE_RATE
        assert 0.5 * room.rt60 < rt60 < 1.5 * room.rt60, (room.kind, room.rt60, rt60)


def fake(name: str, codes) -> TimbreSource:
    return TimbreSource(name, "soundfont", Path(name), tuple(codes))


def test_held_out_timbre_never_leaks_into_train():
    sources = {
        "a": fake("a", vocab.CODES),
        "b": fake("b", vocab.CODES),
        "rec": fake("rec", ("vn", "fl", "tpt")),
    }
    settings = SynthSettings(timbres=("a", "b", "rec"), holdout_timbre="rec")
    plans = plan_corpus(40, seed=5)
    split = split_titles(plans, seed=5)
    used = {"train": set(), "test": set()}
    for plan in plans:
        side = split[plan.name.title]
        timbres = draw_timbres(plan, settings, sources, test=side == "test")
        assert timbres == draw_timbres(plan, settings, sources, test=side == "test")  # seeded
        for code, timbre in zip(plan.name.codes, timbres):
            used[side].add(timbre)
            if side == "test" and code in sources["rec"].codes:
                assert timbre == "rec"
    assert "rec" not in used["train"] and used["train"] == {"a", "b"}
    assert "rec" in used["test"]


def test_corpus_records_timbres_players_and_rooms(corpus):
    meta = json.loads((corpus / "corpus.json").read_text())
    holdout = meta["settings"]["holdout_timbre"]
    assert set(meta["timbre_sources"]) == set(INSTALLED)
    for piece in meta["pieces"]:
        name = PieceName.parse(piece["folder"])
        assert [p["code"] for p in piece["parts"]] == list(name.codes)
        for part in piece["parts"]:
            assert part["timbre"] in INSTALLED
            assert part["player"]["vibrato_hz"] > 4 and -40 <= part["player"]["noise_db"] <= -28
            if piece["split"] == "train":
                assert part["timbre"] != holdout
        assert piece["room"]["kind"] in ("studio", "chamber", "hall")
        assert len(piece["room"]["players_m"]) == len(name.codes)


def test_every_stage_on_stems_sum_to_the_mix_and_seeds_are_exact(corpus, tmp_path):
    for track in load_urmp(corpus):
        name = PieceName.parse(track.name)
        mix, _ = sf.read(corpus / track.name / name.mix, dtype="float32")
        stems = [sf.read(p, dtype="float32")[0] for ps in track.stems.values() for p in ps]
        np.testing.assert_allclose(mix, np.sum(stems, axis=0, dtype=np.float64), atol=1e-6)
        assert all(np.sqrt(np.mean(s**2)) > 1e-3 for s in stems)
    meta = json.loads((corpus / "corpus.json").read_text())
    settings = SynthSettings(
        seed=11,
        size=(96, 54),
        max_seconds=3.0,
        timbres=tuple(meta["settings"]["timbres"]),
        holdout_timbre=meta["settings"]["holdout_timbre"],
    )
    synthesize_corpus(tmp_path / "again", 4, settings, jobs=1)  # the fixture used 2 jobs
    for folder in sorted((tmp_path / "again").glob("0*")):
        for wav in folder.glob("*.wav"):
            np.testing.assert_array_equal(sf.read(wav)[0], sf.read(corpus / folder.name / wav.name)[0])


def test_input_chain_degrades_only_the_mixture():
    rate = 22050
    t = np.arange(2 * rate) / rate
    x = (0.3 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 7000 * t)).astype(np.float32)[None]
    low = band_limit(x, rate, 8000)
    spectrum = np.abs(np.fft.rfft(low[0]))
    freqs = np.fft.rfftfreq(low.shape[1], 1 / rate)
    assert spectrum[freqs > 4500].max() < 1e-3 * spectrum.max()
    assert spectrum[np.argmin(np.abs(freqs - 300))] > 0.9 * np.abs(np.fft.rfft(x[0])).max()
    for codec in ("aac", "mp3"):
        y = codec_round_trip(x, rate, codec, 96000)
        assert y.shape == x.shape
        snr = 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2))
        assert snr > 15, f"{codec} round trip misaligned ({snr:.1f} dB)"
    targets = np.stack([x, x])
    chain = InputChain(band_limit=1.0, codec=1.0)
    m1, t1 = degrade(x, targets, rate, chain, np.random.default_rng(3))
    m2, t2 = degrade(x, targets, rate, chain, np.random.default_rng(3))
    np.testing.assert_array_equal(m1, m2)
    gain = t1[0, 0, 100] / targets[0, 0, 100]
    np.testing.assert_allclose(t1, targets * gain, rtol=1e-5)  # targets: the level change only
    assert not np.allclose(m1, x * gain, atol=1e-3)


def test_mixer_with_input_chain_is_a_pure_function_of_seed_and_index(tmp_path):
    folder = tmp_path / "stems" / "t1"
    folder.mkdir(parents=True)
    rate = 8000
    t = np.arange(3 * rate) / rate
    sf.write(folder / "vn.wav", 0.3 * np.sin(2 * np.pi * 440 * t), rate)
    sf.write(folder / "fl.wav", 0.3 * np.sin(2 * np.pi * 660 * t), rate)
    tracks = load_dataset(f"stems:{tmp_path / 'stems'}")
    segment = Segment(4096, 2048, rate)
    mixer = InMemoryMixer(tracks, segment, MixConfig(coherent=1.0, input_chain=InputChain(codec=1.0)), seed=1)
    a, b = mixer[3], mixer[3]
    np.testing.assert_array_equal(a["mixture"], b["mixture"])
    clean = InMemoryMixer(tracks, segment, MixConfig(coherent=1.0), seed=1)[3]
    assert not np.allclose(a["mixture"], clean["mixture"])


def solo_folder(root: Path) -> Path:
    """Tiny stand-in for realdev: 3 violin and 2 flute clips of different lengths, a bass note."""
    rate = 44100
    for code, freq, lengths in (("vn", 440.0, (1.0, 1.5, 2.0)), ("fl", 880.0, (1.2, 0.8))):
        for i, seconds in enumerate(lengths):
            path = root / "solos" / code / f"clip{i}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, 0.2 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate), rate)
    (root / "notes").mkdir()
    sf.write(
        root / "notes" / "tinysol_db_A2.wav", 0.2 * np.sin(2 * np.pi * 110 * np.arange(rate) / 22050), 22050
    )
    return root


def test_solo_ensembles_are_seeded_and_their_stems_sum_to_the_mixture(tmp_path):
    root = solo_folder(tmp_path)
    tracks = load_solo_ensembles(root, mixtures=6, seed=2)
    again = load_solo_ensembles(root, mixtures=6, seed=2)
    assert [t.name for t in tracks] == [t.name for t in again]
    assert [t.name for t in tracks] != [t.name for t in load_solo_ensembles(root, mixtures=6, seed=3)]
    for track in tracks:
        assert 2 <= len(track.codes) <= 3 and set(track.codes) <= {"vn", "fl", "db"}
        slots = track.slot_audio(22050, 1)
        mix = track.mixture_audio(22050, 1)
        np.testing.assert_allclose(mix, sum(slots.values()), atol=1e-6)
        assert mix.shape[1] <= 22050 * 1.5 + 1  # cut to the shortest clip (the longest flute)
        assert all(np.abs(a).max() > 0.05 for a in slots.values())
    assert len(load_dataset(f"solos:{root}")) == 24


def test_solo_ensembles_need_two_instruments(tmp_path):
    root = tmp_path / "one" / "vn"
    root.mkdir(parents=True)
    sf.write(root / "a.wav", np.zeros(4410), 44100)
    with pytest.raises(ValueError, match="ensembles need 2"):
        load_solo_ensembles(tmp_path / "one")


@pytest.mark.skipif(not REALDEV.is_dir(), reason=f"no real recordings at {REALDEV}")
def test_real_solo_ensembles_from_realdev():
    tracks = load_dataset(f"solos:{REALDEV}")
    assert len(tracks) == 24 and {c for t in tracks for c in t.codes} >= {"cl", "fl", "sax", "tpt", "vn"}
    track = tracks[0]
    slots = track.slot_audio(22050, 1)
    np.testing.assert_allclose(track.mixture_audio(22050, 1), sum(slots.values()), atol=1e-6)


def test_packed_corpus_unpacks_into_parts_of_bounded_size(corpus, tmp_path):
    parts = pack_corpus(corpus, tmp_path / "parts", rate=22050, part_bytes=700_000)
    assert len(parts) >= 2
    assert all(path.stat().st_size <= 700_000 for path, _ in parts)
    pieces = unpack_corpus([p for p, _ in parts], tmp_path / "back")
    assert sorted(p.name for p in pieces) == sorted(p.name for p in corpus.iterdir() if p.name[:2].isdigit())
    assert (tmp_path / "back" / "split.tsv").read_text() == (corpus / "split.tsv").read_text()
    for track in load_urmp(tmp_path / "back"):
        stems = []
        for path in (p for ps in track.stems.values() for p in ps):
            audio, rate = sf.read(path, dtype="float32")
            original, _ = sf.read(corpus / track.name / path.name, dtype="float32")
            # 16-bit FLAC of the resampled stem: rounding only, half a step of 2**-15
            expected = soxr.resample(original, SAMPLE_RATE, 22050, quality="HQ")
            assert rate == 22050 and audio.shape == expected.shape
            np.testing.assert_allclose(audio, expected, atol=2**-16 + 1e-7)
            stems.append(audio)
        mix, _ = sf.read(tmp_path / "back" / track.name / PieceName.parse(track.name).mix, dtype="float32")
        np.testing.assert_allclose(mix, np.sum(stems, axis=0, dtype=np.float64), atol=1e-6)
    with pytest.raises(ValueError, match="more than a part holds"):
        pack_corpus(corpus, tmp_path / "small", part_bytes=20_000)


def test_preview_page_shows_every_timbre_source_the_corpus_uses(corpus):
    meta = json.loads((corpus / "corpus.json").read_text())
    used = {part["timbre"] for piece in meta["pieces"] for part in piece["parts"]}
    assert len(used) >= 2
    page = write_preview(corpus, count=len(INSTALLED) + 1)
    text = page.read_text()
    for name in used:
        assert f"timbre {name}" in text
    for src in (s.split('"')[0] for s in text.split('src="')[1:]):
        assert (corpus / src).is_file(), src


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_cli_refuses_a_bad_length_before_any_work(tmp_path, capsys, value):
    out = tmp_path / "c"
    assert main(["synth", "--out", str(out), "--pieces", "1", f"--max-seconds={value}"]) == 2
    err = capsys.readouterr().err
    assert "--max-seconds" in err and value in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_refuses_a_file_that_is_not_a_soundfont(tmp_path, capsys):
    bogus = tmp_path / "notasoundfont.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    out = tmp_path / "c"
    assert main(["synth", "--out", str(out), "--pieces", "1", "--soundfont", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert str(bogus) in err and "not a SoundFont" in err
    assert not out.exists()
    assert (
        main(
            [
                "synth",
                "--out",
                str(out),
                "--pieces",
                "1",
                "--holdout-timbre",
                "fluidr3",
                "--timbres",
                "fluidr3",
            ]
        )
        == 2
    )
    assert "--holdout-timbre" in capsys.readouterr().err


def test_musescore_subset_renders_like_the_sf3(tmp_path, monkeypatch):
    from vcsep.datasets.synth import timbres

    if not timbres.MUSESCORE.is_file():
        pytest.skip("musescore-general-soundfont is not installed (make setup)")
    monkeypatch.setenv(timbres.CACHE_ENV, str(tmp_path))
    source = timbre_source("musescore")
    assert source.path.parent == tmp_path and source.path.stat().st_size < 20e6
    assert source.origin == timbres.MUSESCORE.resolve()
    for inst in [vocab.BY_CODE[code] for code in ("vn", "vc", "cl", "tba")] + list(vocab.VARIANTS["sax"]):
        notes = [PlayedNote(0.05, 0.6, inst.low + 3, 100), PlayedNote(0.7, 0.5, inst.high - 3, 60)]
        subset = render_part(inst.gm_program, notes, SAMPLE_RATE, source.path)
        whole = render_part(inst.gm_program, notes, SAMPLE_RATE, timbres.MUSESCORE)
        assert np.abs(subset).max() > 0.01
        # the same samples: only Vorbis decoding may differ, 60 dB down
        assert np.abs(subset - whole).max() < 1e-3 * np.abs(whole).max()
