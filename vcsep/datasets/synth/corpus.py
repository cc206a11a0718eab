"""Write a synthetic corpus in URMP's exact layout, piece by piece, never half-written.

The plan (which score, which instruments, which seed for every piece) is drawn from the corpus
seed alone, so the same seed gives the same corpus whatever the number of worker processes.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from vcsep import vocab
from vcsep.datasets.synth.render import (
    SAMPLE_RATE,
    f0_table,
    find_fluidsynth,
    find_soundfont,
    notes_table,
    perform,
    render_parts,
    score_midi,
)
from vcsep.datasets.synth.scores import ScoreSource, load_parts, score_sources
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
    """How a corpus is made. ``size`` is the video ``(width, height)`` in pixels."""

    seed: int = 0
    soundfont: Path | None = None
    size: tuple[int, int] = (640, 360)
    max_seconds: float = 60.0


@dataclass(frozen=True)
class PiecePlan:
    """One piece to write: its URMP name, the score it plays and its own random seed."""

    name: PieceName
    source: ScoreSource
    seed: int


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
    name = plan.name
    final = out / name.folder
    with atomic_path(final) as tmp:
        tmp.mkdir(parents=True)
        _render_piece(plan, tmp, settings)
    return final


def _render_piece(plan: PiecePlan, folder: Path, settings: SynthSettings) -> None:
    """Write every file of one piece into ``folder``."""
    name = plan.name
    rng = np.random.default_rng(plan.seed)
    parts = load_parts(plan.source, name.codes)
    played, gains, duration = perform(parts, rng, settings.max_seconds)
    stems = render_parts(name.codes, played, duration, find_soundfont(settings.soundfont))
    stems *= np.asarray(gains, dtype=np.float32)[:, None]
    peak = np.abs(stems.sum(axis=0)).max()
    stems *= np.float32(PEAK / peak) if peak > 0 else np.float32(1.0)
    # The mix is the exact float32 sum of the stems as written.
    mix = stems.astype(np.float64).sum(axis=0).astype(np.float32)
    for part, (notes, stem) in enumerate(zip(played, stems), start=1):
        sf.write(folder / name.part_file("AuSep", part), stem, SAMPLE_RATE, subtype="FLOAT")
        (folder / name.part_file("Notes", part)).write_text(notes_table(notes))
        (folder / name.part_file("F0s", part)).write_text(f0_table(notes, duration, F0_HOP_S))
    sf.write(folder / name.mix, mix, SAMPLE_RATE, subtype="FLOAT")
    score_midi(name.codes, played).write(str(folder / name.score))
    write_performance_video(
        folder / name.video, folder / name.boxes, name.codes, played, mix, SAMPLE_RATE, settings.size, rng
    )


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
    soundfont = find_soundfont(settings.soundfont)
    settings = SynthSettings(settings.seed, soundfont, tuple(settings.size), settings.max_seconds)
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    plans = plan_corpus(pieces, settings.seed)
    _prepare_out(out, overwrite)
    bar = tqdm(total=len(plans), desc="synth", unit="piece", disable=not progress)
    written: dict[int, Path] = {}
    try:
        if jobs == 1:
            for plan in plans:
                written[plan.name.number] = write_piece(plan, out, settings)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(write_piece, plan, out, settings): plan for plan in plans}
                for future in as_completed(futures):
                    written[futures[future].name.number] = future.result()
                    bar.update()
    finally:
        bar.close()
    split = split_titles(plans, settings.seed)
    lines = ["folder\ttitle\tsplit\n"] + [
        f"{p.name.folder}\t{p.name.title}\t{split[p.name.title]}\n" for p in plans
    ]
    write_text(out / "split.tsv", "".join(lines))
    meta = {
        "generator": "vcsep synth",
        "settings": {**asdict(settings), "soundfont": str(soundfont)},
        "sample_rate": SAMPLE_RATE,
        "pieces": [
            {"folder": p.name.folder, "score": p.source.path, "seed": p.seed, "split": split[p.name.title]}
            for p in plans
        ],
        "instruments": list(vocab.CODES),
    }
    write_json(out / "corpus.json", meta)
    return [written[p.name.number] for p in plans]

