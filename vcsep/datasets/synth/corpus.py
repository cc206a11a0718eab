"""Write a synthetic corpus in URMP's exact layout, piece by piece, never half-written.

The plan (which score, which instruments, which seed for every piece) is drawn from the corpus
seed alone, so the same seed gives the same corpus whatever the number of worker processes.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from vcsep import vocab
from vcsep.datasets.synth import acoustics, expression
from vcsep.datasets.synth.render import (
    SAMPLE_RATE,
    f0_table,
    find_fluidsynth,
    notes_table,
    perform,
    render_part,
    score_midi,
)
from vcsep.datasets.synth.scores import ScoreSource, load_parts, score_sources
from vcsep.datasets.synth.timbres import DEFAULT_SOURCES, TimbreSource, render_samples, timbre_source
from vcsep.datasets.synth.video import write_performance_video
from vcsep.datasets.urmp_names import F0_HOP_S, FOLDER_RE, PieceName, urmp_pieces
from vcsep.files import atomic_path, write_json, write_text

# Share of titles held out for testing (URMP's usual split is 11 of 44 pieces).
TEST_FRACTION = 0.25
# Chance that a piece re-uses the previous piece's score with other instruments, as URMP's
# variants do (24/25 Pirates, 26/27 King, ...): this is why splits go by title.
VARIANT_CHANCE = 0.2
# Peak level of the loudest mix sample after scaling all parts together.
PEAK = 0.9


@dataclass(frozen=True)
class SynthSettings:
    """How a corpus is made. ``size`` is the video ``(width, height)`` in pixels; ``soundfont``
    replaces FluidR3's file for the ``fluidr3`` source.

    ``timbres``: the timbre sources parts draw from (:data:`~vcsep.datasets.synth.timbres.SOURCES`;
    default :data:`~vcsep.datasets.synth.timbres.DEFAULT_SOURCES`);
    ``holdout_timbre``: one of them reserved for the test pieces (train pieces never use it; test
    pieces play every part it has samples for with it); ``expressive``: vibrato, tuning,
    articulation, score and phrase dynamics, bow/breath noise; ``rooms``: each piece in a room,
    heard by one microphone with its EQ and noise floor; ``realnotes``: the folder of the
    ``realnotes`` source (default :func:`~vcsep.datasets.synth.timbres.realnotes_root`);
    ``variants``: each soundfont part of a slot with a family (:data:`vcsep.vocab.VARIANTS`:
    soprano, alto, tenor or baritone sax) is a member drawn at random, in its register and with its
    GM program (off: the slot's own instrument, as every corpus before). With
    ``timbres=("fluidr3",)`` and both off, a corpus sounds like the one the shipped models were
    trained on (dry FluidR3).
    """

    seed: int = 0
    soundfont: Path | None = None
    size: tuple[int, int] = (640, 360)
    max_seconds: float = 60.0
    timbres: tuple[str, ...] = DEFAULT_SOURCES
    holdout_timbre: str | None = None
    expressive: bool = True
    rooms: bool = True
    realnotes: Path | None = None
    variants: bool = False


@dataclass(frozen=True)
class PiecePlan:
    """One piece to write: its URMP name, the score it plays, its own random seed and the timbre
    source of each part (empty: drawn from the seed when the piece is written, holdout excluded)."""

    name: PieceName
    source: ScoreSource
    seed: int
    timbres: tuple[str, ...] = ()


def check_settings(settings: SynthSettings) -> dict[str, TimbreSource]:
    """Validate ``settings`` before any work; returns the timbre sources by name.

    Raises ``ValueError`` for a length that is not a positive number of seconds, unknown or
    repeated sources, or a holdout source outside ``timbres`` or left alone in it;
    ``FileNotFoundError``/``ValueError`` (naming the file) for a missing source or a soundfont that
    is not one.
    """
    if not 0 < settings.max_seconds < float("inf"):
        raise ValueError(f"--max-seconds must be a positive number of seconds, got {settings.max_seconds}")
    if not settings.timbres or len(set(settings.timbres)) != len(settings.timbres):
        raise ValueError(f"--timbres must name distinct sources, got {','.join(settings.timbres)!r}")
    holdout = settings.holdout_timbre
    if holdout is not None and (holdout not in settings.timbres or len(settings.timbres) < 2):
        raise ValueError(
            f"--holdout-timbre {holdout} must be one of several --timbres ({', '.join(settings.timbres)})"
        )
    if settings.soundfont is not None and "fluidr3" not in settings.timbres:
        raise ValueError(f"--soundfont {settings.soundfont} is for the fluidr3 source; --timbres omits it")
    if settings.realnotes is not None and "realnotes" not in settings.timbres:
        raise ValueError(f"--realnotes {settings.realnotes} is for the realnotes source; --timbres omits it")
    return {name: timbre_source(name, settings.soundfont, settings.realnotes) for name in settings.timbres}


def draw_timbres(
    plan: PiecePlan, settings: SynthSettings, sources: dict[str, TimbreSource], test: bool
) -> tuple[str, ...]:
    """The timbre source of each part of ``plan``, from the piece's own seed: with a holdout source,
    a test piece plays every part the holdout has samples for with it and a train piece never uses
    it; other parts draw evenly among the remaining sources that have the instrument."""
    rng = np.random.default_rng([plan.seed, 2])
    holdout = settings.holdout_timbre
    chosen = []
    for code in plan.name.codes:
        if test and holdout is not None and code in sources[holdout].codes:
            chosen.append(holdout)
            continue
        candidates = [n for n in settings.timbres if n != holdout and code in sources[n].codes]
        if not candidates:
            raise ValueError(f"only the holdout of --timbres {','.join(settings.timbres)} plays {code}")
        chosen.append(candidates[int(rng.integers(len(candidates)))])
    return tuple(chosen)


def draw_instruments(
    codes: tuple[str, ...], kinds: tuple[str, ...], rng: np.random.Generator, variants: bool
) -> list[vocab.Instrument]:
    """The instrument of each part of ``codes``, played by a timbre source of kind ``kinds``
    (``soundfont`` or ``samples``, part order): the slot's own (:data:`vcsep.vocab.BY_CODE`), or with
    ``variants`` a soundfont part of a slot with a family (:data:`vcsep.vocab.VARIANTS`) a member drawn
    evenly by ``rng``. A soundfont has a program for each member; a bank of recorded notes plays the
    instrument it recorded (an alto sax read an octave slower is no baritone)."""
    return [
        family[int(rng.integers(len(family)))]
        if variants and kind == "soundfont" and (family := vocab.VARIANTS.get(code))
        else vocab.BY_CODE[code]
        for code, kind in zip(codes, kinds, strict=True)
    ]


def plan_corpus(pieces: int, seed: int) -> list[PiecePlan]:
    """Draw ``pieces`` pieces: URMP's 44 instrument combinations in a seeded order (cycled), each
    with a score that has enough voices; distinct scores except for URMP-style variants."""
    if pieces < 1:
        raise ValueError(f"--pieces must be at least 1, got {pieces}")
    if pieces > 99:
        raise ValueError(f"URMP numbers pieces with two digits: at most 99 pieces, got {pieces}")
    sources = score_sources()
    if pieces > len(sources):
        raise ValueError(f"asked for {pieces} pieces but only {len(sources)} scores are available")
    rng = np.random.default_rng(seed)
    combos = [p.codes for p in urmp_pieces()]
    order = rng.permutation(len(combos))
    unused = list(rng.permutation(len(sources)))
    plans: list[PiecePlan] = []
    for number in range(1, pieces + 1):
        codes = combos[order[(number - 1) % len(combos)]]
        previous = plans[-1] if plans else None
        if previous and previous.source.parts >= len(codes) and rng.random() < VARIANT_CHANCE:
            source = previous.source
        else:
            pick = next((i for i in unused if sources[i].parts >= len(codes)), None)
            if pick is None:
                raise ValueError(f"not enough scores with {len(codes)} voices for {pieces} pieces")
            unused.remove(pick)
            source = sources[pick]
        name = PieceName(number, source.title, codes)
        plans.append(PiecePlan(name, source, int(rng.integers(2**31))))
    return plans


def split_titles(plans: list[PiecePlan], seed: int) -> dict[str, str]:
    """Title -> ``train``/``test``: about a quarter of the titles to test, every instrument of the
    corpus kept in train; all pieces of one title go to the same side."""
    codes_by_title: dict[str, set[str]] = {}
    for plan in plans:
        codes_by_title.setdefault(plan.name.title, set()).update(plan.name.codes)
    titles = sorted(codes_by_title)
    wanted = int(round(TEST_FRACTION * len(titles)))
    split = dict.fromkeys(titles, "train")
    rng = np.random.default_rng([seed, 1])
    for title in (titles[i] for i in rng.permutation(len(titles))):
        if sum(v == "test" for v in split.values()) >= wanted:
            break
        rest = set().union(*(c for t, c in codes_by_title.items() if t != title and split[t] == "train"))
        if codes_by_title[title] <= rest:
            split[title] = "test"
    return split


def write_piece(plan: PiecePlan, out: Path, settings: SynthSettings) -> Path:
    """Render one piece into ``out/<folder>``: written under a temporary name, renamed when whole."""
    return _write_piece(plan, out, settings)[0]


def _write_piece(plan: PiecePlan, out: Path, settings: SynthSettings) -> tuple[Path, dict]:
    """:func:`write_piece`, also returning the piece's record for ``corpus.json``."""
    name = plan.name
    final = out / name.folder
    with atomic_path(final) as tmp:
        tmp.mkdir(parents=True)
        record = _render_piece(plan, tmp, settings)
    return final, record


# Each part's dry level before the per-part gains: sources differ by 20 dB out of the box.
_PART_RMS = 0.1


def _render_piece(plan: PiecePlan, folder: Path, settings: SynthSettings) -> dict:
    """Write every file of one piece into ``folder``; returns its record (timbre, player and room
    of every part)."""
    name = plan.name
    rng = np.random.default_rng(plan.seed)
    # expression and rooms draw from their own stream: the score, timing and video draws of a
    # piece do not depend on which stages are on
    extra = np.random.default_rng([plan.seed, 1])
    sources = {n: timbre_source(n, settings.soundfont, settings.realnotes) for n in settings.timbres}
    timbres = plan.timbres or draw_timbres(plan, settings, sources, test=False)
    kinds = tuple(sources[t].kind for t in timbres)
    family_rng = np.random.default_rng([plan.seed, 3])
    instruments = draw_instruments(name.codes, kinds, family_rng, settings.variants)
    parts = load_parts(plan.source, instruments)
    played, gains, duration = perform(parts, rng, settings.max_seconds, dynamics=settings.expressive)
    n = int(round(duration * SAMPLE_RATE))
    players = [expression.draw_player(c, extra) for c in name.codes] if settings.expressive else []
    if players:
        played = [expression.articulate(notes, p, extra) for notes, p in zip(played, players)]
    stems = np.zeros((len(name.codes), n), dtype=np.float32)
    bends = [None] * len(name.codes)  # each part's tuning + vibrato in cents, for its F0s
    for i, (code, notes, timbre) in enumerate(zip(name.codes, played, timbres)):
        source = sources[timbre]
        tuning = players[i].tuning_cents if players else 0.0
        if source.kind == "soundfont":
            audio = render_part(instruments[i].gm_program, notes, n, source.path, tuning)
        else:
            audio = render_samples(code, notes, n, source, tuning)
        if players:
            audio, vibrato = expression.express(code, notes, audio, players[i], extra)
            bends[i] = vibrato + tuning
        rms = np.sqrt(np.mean(audio[np.abs(audio) > 1e-4].astype(np.float64) ** 2)) if audio.any() else 0.0
        stems[i] = audio * np.float32(_PART_RMS / rms if rms > 0 else 1.0)
    stems *= np.asarray(gains, dtype=np.float32)[:, None]
    room = acoustics.draw_room(len(name.codes), extra) if settings.rooms else None
    if room is not None:
        stems = acoustics.place(stems, room, extra)
    peak = np.abs(stems.sum(axis=0)).max()
    stems *= np.float32(PEAK / peak) if peak > 0 else np.float32(1.0)
    # The mix is the exact float32 sum of the stems as written.
    mix = stems.astype(np.float64).sum(axis=0).astype(np.float32)
    for part, (notes, stem, bend) in enumerate(zip(played, stems, bends), start=1):
        sf.write(folder / name.part_file("AuSep", part), stem, SAMPLE_RATE, subtype="FLOAT")
        (folder / name.part_file("Notes", part)).write_text(notes_table(notes))
        f0s = f0_table(notes, duration, F0_HOP_S, bend, expression.CONTROL_RATE)
        (folder / name.part_file("F0s", part)).write_text(f0s)
    sf.write(folder / name.mix, mix, SAMPLE_RATE, subtype="FLOAT")
    score_midi(name.codes, played).write(str(folder / name.score))
    write_performance_video(
        folder / name.video, folder / name.boxes, name.codes, played, mix, SAMPLE_RATE, settings.size, rng
    )
    return {
        "parts": [
            {"code": code, "instrument": instruments[i].name, "timbre": timbre}
            | ({"player": players[i].record()} if players else {})
            for i, (code, timbre) in enumerate(zip(name.codes, timbres))
        ],
        "room": room.record() if room is not None else None,
    }


def part_timbres(corpus: Path) -> dict[str, dict[str, set[str]]]:
    """Which timbre sources played each instrument of each piece of a written corpus, from its
    ``corpus.json``: ``{piece folder: {code: {source, ...}}}``."""
    meta = json.loads((Path(corpus) / "corpus.json").read_text())
    table: dict[str, dict[str, set[str]]] = {}
    for piece in meta["pieces"]:
        codes = table.setdefault(piece["folder"], {})
        for part in piece["parts"]:
            codes.setdefault(part["code"], set()).add(part["timbre"])
    return table


def train_scores(corpora: list[Path]) -> list[str]:
    """The scores (paths in music21's corpus, as ``corpus.json`` names them) that the train pieces of
    written ``corpora`` play, sorted: a model's record of what it heard, so that a benchmark can
    tell pieces of unseen scores from the rest."""
    scores = set()
    for corpus in corpora:
        meta = json.loads((Path(corpus) / "corpus.json").read_text())
        scores |= {piece["score"] for piece in meta["pieces"] if piece["split"] == "train"}
    return sorted(scores)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass --overwrite to replace its corpus")
        # an earlier corpus's pieces would otherwise linger beside the new split file
        for child in out.iterdir():
            if child.is_dir() and (FOLDER_RE.match(child.name) or child.name.startswith(".tmp-")):
                shutil.rmtree(child)
    out.mkdir(parents=True, exist_ok=True)


def synthesize_corpus(
    out: Path | str,
    pieces: int,
    settings: SynthSettings = SynthSettings(),
    jobs: int = 1,
    overwrite: bool = False,
    progress: bool = False,
) -> list[Path]:
    """Write ``pieces`` pieces to ``out`` in URMP's layout, plus ``split.tsv`` and ``corpus.json``.

    Raises ``FileNotFoundError`` (naming the Debian package) when fluidsynth or the soundfont is
    missing, ``ValueError`` for impossible requests, ``FileExistsError`` for a non-empty ``out``
    without ``overwrite``. Returns the piece folders in piece order.
    """
    out = Path(out)
    find_fluidsynth()
    sources = check_settings(settings)
    fluidr3 = sources["fluidr3"].path if "fluidr3" in sources else None
    realnotes = sources["realnotes"].path if "realnotes" in sources else None
    settings = replace(
        settings,
        soundfont=fluidr3,
        realnotes=realnotes,
        size=tuple(settings.size),
        timbres=tuple(settings.timbres),
    )
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    plans = plan_corpus(pieces, settings.seed)
    split = split_titles(plans, settings.seed)
    plans = [
        replace(p, timbres=draw_timbres(p, settings, sources, test=split[p.name.title] == "test"))
        for p in plans
    ]
    _prepare_out(out, overwrite)
    bar = tqdm(total=len(plans), desc="synth", unit="piece", disable=not progress)
    written: dict[int, tuple[Path, dict]] = {}
    try:
        if jobs == 1:
            for plan in plans:
                written[plan.name.number] = _write_piece(plan, out, settings)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(_write_piece, plan, out, settings): plan for plan in plans}
                for future in as_completed(futures):
                    written[futures[future].name.number] = future.result()
                    bar.update()
    finally:
        bar.close()
    lines = ["folder\ttitle\tsplit\n"] + [
        f"{p.name.folder}\t{p.name.title}\t{split[p.name.title]}\n" for p in plans
    ]
    write_text(out / "split.tsv", "".join(lines))
    meta = {
        "generator": "vcsep synth",
        "settings": {
            **asdict(settings),
            "soundfont": str(settings.soundfont or ""),
            "realnotes": str(settings.realnotes or ""),
        },
        "timbre_sources": {
            n: {"kind": s.kind, "path": str(s.path), "instruments": list(s.codes)}
            | ({"from": str(s.origin)} if s.origin else {})
            for n, s in sources.items()
        },
        "sample_rate": SAMPLE_RATE,
        "pieces": [
            {"folder": p.name.folder, "score": p.source.path, "seed": p.seed, "split": split[p.name.title]}
            | written[p.name.number][1]
            for p in plans
        ],
        "instruments": list(vocab.CODES),
    }
    write_json(out / "corpus.json", meta)
    return [written[p.name.number][0] for p in plans]
