"""``vcsep demo``: separate a performance whose true stems are known and score the result.

By default the piece is synthesized: one of the *test* pieces of the corpus the shipped models were
trained on (its plan is drawn again from the seed recorded in ``corpus.json`` beside the models), so
the models never heard it. A real URMP piece folder can be given instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcsep import vocab
from vcsep.datasets.synth import SynthSettings
from vcsep.pipeline import SeparationResult, Separator

CORPUS_FILE = "corpus.json"
METRICS = ("SDR", "SDRi", "SI-SDR")  # what the demo prints per instrument


@dataclass
class DemoResult:
    """What the demo separated and how well: ``scores`` maps each true instrument to its median
    SDR, SDRi (its gain over the mixture as the estimate) and SI-SDR, in dB (NaN when the labels
    missed it and the separator produced nothing for it)."""

    piece: Path
    truth: list[str]
    separation: SeparationResult
    scores: dict[str, dict[str, float]]

    def table(self) -> str:
        """The scores as an aligned text table, one instrument per line."""
        lines = [f"{'instrument':<12}{'detected':>9}{'SDR dB':>9}{'SDRi dB':>9}{'SI-SDR dB':>11}"]
        for code in self.truth:
            s = self.scores[code]
            found = "yes" if code in self.separation.instruments else "no"
            lines.append(
                f"{vocab.display_name(code):<12}{found:>9}{s['SDR']:>9.2f}{s['SDRi']:>9.2f}{s['SI-SDR']:>11.2f}"
            )
        finite = [s for s in self.scores.values() if math.isfinite(s["SDR"])]
        if finite:
            medians = [float(np.median([s[m] for s in finite])) for m in METRICS]
            lines.append(
                f"{'median':<12}{'':>9}" + "".join(f"{v:>{w}.2f}" for v, w in zip(medians, (9, 9, 11)))
            )
        return "\n".join(lines)


def models_corpus(models: Path) -> tuple[SynthSettings, int]:
    """The synthesis settings and piece count of the corpus the models in ``models`` learned from,
    read from its ``corpus.json``; ``FileNotFoundError`` when there is none."""
    record = Path(models) / CORPUS_FILE
    if not record.is_file():
        raise FileNotFoundError(f"{record} is missing: the demo needs the corpus record of the models")
    meta = json.loads(record.read_text())
    settings = meta["settings"]
    # a record without timbre sources comes from before #14: dry FluidR3
    synth = SynthSettings(
        seed=settings["seed"],
        size=tuple(settings["size"]),
        max_seconds=settings["max_seconds"],
        timbres=tuple(settings.get("timbres", ("fluidr3",))),
        holdout_timbre=settings.get("holdout_timbre"),
        expressive=settings.get("expressive", False),
        rooms=settings.get("rooms", False),
    )
    return synth, len(meta["pieces"])


def held_out_piece(models: Path, out: Path, number: int | None = None, progress: bool = False) -> Path:
    """Synthesize into ``out`` a test piece of the corpus the models in ``models`` learned from.

    ``number`` picks the piece (its URMP-style number); default: the first test piece with the most
    players. Raises ``FileNotFoundError`` when ``models`` has no ``corpus.json``.
    """
    from vcsep.datasets.synth.corpus import plan_corpus, split_titles, write_piece

    synth, pieces = models_corpus(models)
    plans = plan_corpus(pieces, synth.seed)
    split = split_titles(plans, synth.seed)
    tests = [p for p in plans if split[p.name.title] == "test"]
    if number is None:
        plan = max(tests, key=lambda p: len(p.name.codes))  # max keeps the first of the largest
    else:
        chosen = [p for p in tests if p.name.number == number]
        if not chosen:
            numbers = ", ".join(str(p.name.number) for p in tests)
            raise ValueError(f"piece {number} is not a held-out piece of the models' corpus; try {numbers}")
        plan = chosen[0]
    if progress:
        print(f"[vcsep] synthesizing held-out piece {plan.name.folder} ({plan.source.path})", flush=True)
    return write_piece(plan, out, synth)


def run_demo(
    out: Path,
    models: Path,
    piece: Path | None = None,
    number: int | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> DemoResult:
    """Separate ``piece`` (a URMP-layout folder; default a synthesized held-out piece) with the
    models in ``models`` and score each true instrument against its stem (BSSEval v4, 1 s frames)."""
    from vcsep.datasets.urmp import load_urmp_piece
    from vcsep.evaluation.scoring import score_track

    out, models = Path(out), Path(models)
    separator = Separator.from_pretrained(models, device=device)  # a bad models folder fails first
    if piece is None:
        piece = held_out_piece(models, out / "piece", number, progress)
    track = load_urmp_piece(piece)
    if track.video is None:
        raise FileNotFoundError(f"{piece} has no Vid_*.mp4 to separate")
    # without a detector the demo tells the separator the truth, and says so
    given = None if separator.detector is not None else track.codes
    if given is not None and progress:
        print(f"[vcsep] no detector beside the models: telling the separator {', '.join(given)}")
    result = separator.separate_video(track.video, given, out_dir=out / "separated", progress=progress)

    rate, channels = result.sample_rate, result.mixture.shape[0]
    codes = list(result.sources)
    if tuple(codes) != track.vocabulary.codes:
        raise ValueError(f"the separator's sources ({', '.join(codes)}) are not the URMP instruments")
    estimates = np.zeros((len(codes), channels, result.mixture.shape[-1]), dtype=np.float32)
    for code, stem in result.stems.items():
        estimates[codes.index(code)] = stem
    # BSSEval cannot score a silent estimate: an instrument the labels missed is reported as missed
    # (NaN), and the separated ones are scored against the references of the separated ones
    references = {c: a for c, a in track.slot_audio(rate, channels).items() if c in result.stems}
    scores = {code: dict.fromkeys(METRICS, float("nan")) for code in track.codes}
    if references:
        scored = score_track(track.name, codes, references, estimates, result.mixture, rate, device=device)
        for row in scored.tracks.rows():
            if row["present"]:
                scores[row["instrument"]] = {m: row[m] for m in METRICS}
    return DemoResult(piece, track.codes, result, scores)
