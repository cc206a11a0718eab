"""Labels on real players: ``vcsep detect``'s own code path on the ISFEE solo videos, for the models.

Every clip of ``../shared/realvideo/isfee`` (or ``$VCSEP_ISFEE``; 82 real solo performances, every
instrument, one studio; measurement only) goes through
:func:`vcsep.fusion.labels.label_recording` with the recogniser head and tagger (default: the
shipped ones), as ``vcsep detect`` runs it. Per clip the fused instruments are compared with the
truth (a clip is exact when they are exactly its instrument), and so are sight alone (at its own
threshold) and sound alone (at the tagger's 0.5). Reported: the exact fraction, precision and
recall of each column (a clip counts once per instrument, false alarms of all 13 slots), false
instruments per clip, and per instrument; then the halves of :func:`vcsep.evaluation.realsets.
split_clips` (``validation`` to choose on, ``report`` to report on).

Sound must not depend on the level: each clip's audio alone is also tagged at -45, -30 and -18 dBFS
RMS (``sound_top1_<level>``: its instrument ranked first; ``sound_same_sets``: the fraction of clips
whose instruments heard at 0.5 are the same at all three levels).
The last line is ``exact_fraction=<a> sight_precision=<b> sound_top1=<c> false_per_clip=<d> ...``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores

from vcsep import DEFAULT_MODELS
from vcsep.audio.io import at_level
from vcsep.evaluation.realsets import isfee_clips, isfee_default, split_clips

LEVELS_DBFS = (-45.0, -30.0, -18.0)


def summary(rows: list[dict]) -> dict[str, float]:
    """Exact fraction, precision/recall of each column, sound top-1 and false instruments per clip of
    ``rows`` (one per clip: ``truth``, ``sight``, ``sound``, ``fused`` sets, ``top1`` bool)."""
    from vcsep.vision.train import PresenceScores

    out = {"clips": len(rows), "exact_fraction": np.mean([r["fused"] == r["truth"] for r in rows])}
    for column in ("sight", "sound", "fused"):
        scores = PresenceScores.of_pieces([(r["truth"], r[column]) for r in rows])
        out[f"{column}_precision"] = scores.precision or 0.0
        out[f"{column}_recall"] = scores.recall or 0.0
    out["sound_top1"] = np.mean([r["top1"] for r in rows])
    out["false_per_clip"] = np.mean([len(r["fused"] - r["truth"]) for r in rows])
    return {k: float(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--isfee", type=Path, default=isfee_default())
    parser.add_argument("--head", type=Path, default=DEFAULT_MODELS / "recognizer_head.pt")
    parser.add_argument("--tagger", type=Path, default=DEFAULT_MODELS / "tagger.pt")
    add_machine_arguments(parser)
    args = parser.parse_args()
    pin_cores(args.cores)
    if not (args.isfee / "labels.tsv").is_file():
        raise SystemExit(
            f"no ISFEE clips at {args.isfee} (labels.tsv missing): they live in ../shared/realvideo/isfee "
            "beside the repository; or set VCSEP_ISFEE"
        )
    from vcsep.audio.tagger import SAMPLE_RATE as TAGGER_RATE
    from vcsep.audio.tagger import Tagger
    from vcsep.fusion.labels import label_recording
    from vcsep.vision.recognizer import Recognizer
    from vcsep.vision.video import read_audio_track

    clips = isfee_clips(args.isfee)
    halves = split_clips(clips)
    half_of = {p: h for h, by_code in halves.items() for paths in by_code.values() for p in paths}
    sight, tagger = Recognizer(args.head), Tagger.load(args.tagger)
    codes = list(tagger.codes)
    rows = []
    for code, paths in clips.items():
        for path in paths:
            result, _ = label_recording(path, sight=sight, tagger=tagger, cache_dir=args.work / "detections")
            found = result.found()
            audio = read_audio_track(path, TAGGER_RATE)
            levels = {}
            for dbfs in LEVELS_DBFS:
                presence = tagger.tag(at_level(audio, dbfs), TAGGER_RATE).presence
                levels[dbfs] = (
                    codes[int(np.argmax(presence))] == code,
                    {c for c, p in zip(codes, presence) if p >= 0.5},
                )
            top1 = codes[int(np.argmax(result.sound.presence))] == code
            rows.append(
                {
                    "code": code,
                    "half": half_of[path],
                    "truth": {code},
                    **found,
                    "top1": top1,
                    "levels": levels,
                }
            )
            verdict = "ok" if found["fused"] == {code} else "WRONG"
            shown = {k: ",".join(sorted(v)) or "-" for k, v in found.items()}
            print(
                f"  {path.name[:44]:<44} {code:<4} fused {shown['fused']:<16} {verdict:<5}"
                f" sight {shown['sight']:<14} sound {shown['sound']}",
                flush=True,
            )
    print(
        f"\n{'instrument':<10} {'clips':>5} {'exact':>6} {'found':>6} {'false/clip':>10} {'sound top1':>10}"
    )
    for code in clips:
        mine = [r for r in rows if r["code"] == code]
        s = summary(mine)
        print(
            f"{code:<10} {len(mine):>5} {s['exact_fraction']:>6.2f} {s['fused_recall']:>6.2f} "
            f"{s['false_per_clip']:>10.2f} {s['sound_top1']:>10.2f}"
        )
    for name, subset in (("validation half", "validation"), ("report half", "report"), ("all", None)):
        s = summary([r for r in rows if subset is None or r["half"] == subset])
        print(
            f"{name:<16} {s['clips']:>3.0f} clips: exact {s['exact_fraction']:.3f}, fused P/R "
            f"{s['fused_precision']:.2f}/{s['fused_recall']:.2f}, sight P/R {s['sight_precision']:.2f}/"
            f"{s['sight_recall']:.2f}, sound P/R {s['sound_precision']:.2f}/{s['sound_recall']:.2f}, "
            f"sound top-1 {s['sound_top1']:.2f}, false per clip {s['false_per_clip']:.2f}"
        )
    s = summary(rows)
    level_top1 = {dbfs: np.mean([r["levels"][dbfs][0] for r in rows]) for dbfs in LEVELS_DBFS}
    same = np.mean([len({frozenset(r["levels"][d][1]) for d in LEVELS_DBFS}) == 1 for r in rows])
    print("sound alone at " + ", ".join(f"{d:g} dBFS: top-1 {v:.2f}" for d, v in level_top1.items()))
    print(
        f"exact_fraction={s['exact_fraction']:.3f} sight_precision={s['sight_precision']:.3f} "
        f"sound_top1={s['sound_top1']:.3f} false_per_clip={s['false_per_clip']:.3f} "
        f"fused_recall={s['fused_recall']:.3f} "
        + " ".join(f"sound_top1_m{-d:g}dbfs={v:.3f}" for d, v in level_top1.items())
        + f" sound_same_sets={same:.3f}"
    )


if __name__ == "__main__":
    main()
