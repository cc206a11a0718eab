"""Separate one performance clip with the shipped models and score it against its true stems.

    python demos/separate_clip.py                                # a synthetic held-out piece
    python demos/separate_clip.py --urmp /data/URMP --piece 12_Spring_vn_vn_va_vc

Writes one WAV per instrument, the video with one audio track per stem and index.html under
--out/separated; prints BSSEval v4 SDR and SI-SDR per instrument.
"""

from __future__ import annotations

import argparse

from clips import add_clip_arguments, clip

from vcsep import DEFAULT_MODELS
from vcsep.demo import run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_clip_arguments(parser)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    args = parser.parse_args()
    result = run_demo(args.out, DEFAULT_MODELS, clip(args), device=args.device, progress=True)
    print(f"\n{result.piece.name}")
    print(result.table())
    print(f"\nlisten: {result.separation.files['page']}")


if __name__ == "__main__":
    main()
