"""Which tagger hears real players at any level? Candidates scored on the validation half only.

Trains (or takes, ``--tagger NAME=FILE``) listening taggers and tags the ``validation`` half of the
real clips (:func:`vcsep.evaluation.realsets.real_clips`: ISFEE videos' audio and realdev solos;
never the ``report`` half that ``bench/real_players.py`` reports) alone, each scaled to -45, -30 and
-18 dBFS RMS. Per candidate and level: top-1 (the clip's instrument ranked first of 13), exact (the
instruments heard at 0.5 are exactly the clip's) and false instruments per clip.

``--train`` trains two taggers on ``--corpus`` folders with the same steps and seed: ``absolute``
(the log mel as before) and ``relative`` (``--relative-level``: each window relative to its peak).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vcsep.audio.io import at_level
from vcsep.audio.tagger import Tagger
from vcsep.evaluation.realsets import read_real_clip, real_clips
from vcsep.training.tagger import train_tagger

LEVELS_DBFS = (-45.0, -30.0, -18.0)


def score(tagger: Tagger, clips: dict[str, list[Path]]) -> dict[float, dict]:
    """Per level: ``top1``, ``exact`` and ``false_per_clip`` over every clip of ``clips``, and
    ``top1_by_code`` (each instrument's top-1 over its clips)."""
    rows: dict[float, list[tuple[bool, bool, int]]] = {d: [] for d in LEVELS_DBFS}
    played: list[str] = []
    codes = list(tagger.codes)
    for code, paths in clips.items():
        for path in paths:
            audio, rate = read_real_clip(path)
            played.append(code)
            for dbfs in LEVELS_DBFS:
                presence = tagger.tag(at_level(audio, dbfs), rate).presence
                heard = {c for c, p in zip(codes, presence) if p >= 0.5}
                rows[dbfs].append(
                    (codes[int(np.argmax(presence))] == code, heard == {code}, len(heard - {code}))
                )
    return {
        d: {
            "top1": float(np.mean([r[0] for r in v])),
            "exact": float(np.mean([r[1] for r in v])),
            "false_per_clip": float(np.mean([r[2] for r in v])),
            "top1_by_code": {
                c: float(np.mean([r[0] for r, p in zip(v, played) if p == c])) for c in dict.fromkeys(played)
            },
        }
        for d, v in rows.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tagger", action="append", default=[], help="NAME=FILE, a tagger to score")
    parser.add_argument("--train", action="store_true", help="train the absolute and relative taggers")
    parser.add_argument("--corpus", type=Path, action="append", default=[])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("build/experiments/tagger_level"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    candidates = {name: Path(file) for name, file in (t.split("=", 1) for t in args.tagger)}
    if args.train:
        for name, relative in (("absolute", False), ("relative", True)):
            start = time.perf_counter()
            metrics = train_tagger(
                args.corpus, args.out / f"{name}.pt", steps=args.steps, seed=0, relative_level=relative
            )
            f1 = metrics.get("test_presence", {}).get("micro", {}).get("f1")
            print(f"trained {name}: {time.perf_counter() - start:.0f} s, corpus test-piece presence F1 {f1}")
            candidates[name] = args.out / f"{name}.pt"
    clips = real_clips("validation")
    print(f"validation half: {sum(map(len, clips.values()))} real clips of {len(clips)} instruments")
    print(f"{'tagger':<12} " + " ".join(f"{f'{d:g} dBFS top1/exact/false':>28}" for d in LEVELS_DBFS))
    for name, file in candidates.items():
        result = score(Tagger.load(file), clips)
        cells = [f"{r['top1']:.2f} / {r['exact']:.2f} / {r['false_per_clip']:.2f}" for r in result.values()]
        print(f"{name:<12} " + " ".join(f"{c:>28}" for c in cells), flush=True)
        by_code = result[LEVELS_DBFS[-1]]["top1_by_code"]
        print(f"{'':<12} top-1 by instrument: " + " ".join(f"{c} {v:.2f}" for c, v in by_code.items()))


if __name__ == "__main__":
    main()
