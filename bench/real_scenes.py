"""Real pictures and real sound together: the labels of performance videos made of both, for FUSION.

Issue 15's real-video target (a trumpet-violin duet and a solo violinist, held back from the
repository: every instrument found, nothing else present) checked on what can be had here. Each
scene is a still video: a picture by :class:`vcsep.vision.composites.Composer` on the held-out
background family (backdrops and clutter the recogniser's head never trained on, 1280x720) with the
real photographs of its instruments held by drawn players, and as its audio the real solo
recordings of those instruments from ``--realdev``/solos (default ``../shared/realdev`` beside the
repository, or ``$VCSEP_REALDEV``; Medley-solos-DB clips of 3 s, CC BY), summed at their own levels
and cut to the shortest. The instruments that have both: violin and trumpet. Three kinds of scene,
``--clips`` each (clip ``i`` of each instrument in scene ``i``): a solo violinist, a solo
trumpeter, a violin-trumpet duet.

Every scene goes through :func:`vcsep.fusion.labels.label_recording` with the shipped recogniser
and tagger, as ``vcsep detect`` runs it. The photographs are the ones the head trained on (on other
backgrounds), so sight here is kinder than on a real video; the recordings no model heard.
Reported: ``exact_fraction`` (scenes whose fused instruments are exactly the true ones) and presence
F1 of sight, sound and fused labels (a scene counts once per instrument, false alarms of all 13
slots counted). The last line is
``exact_fraction=<a> fused_f1=<b> sight_f1=<c> sound_f1=<d>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores

from vcsep.evaluation.realsets import realdev_default

SCENES = (("vn",), ("tpt",), ("vn", "tpt"))
FPS = 25
RATE = 44_100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdev", type=Path, default=realdev_default())
    parser.add_argument("--clips", type=int, default=12, help="scenes of each kind")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pictures")
    add_machine_arguments(parser)
    args = parser.parse_args()
    pin_cores(args.cores)
    from vcsep import DEFAULT_MODELS
    from vcsep.audio.io import read_audio, resample
    from vcsep.audio.tagger import Tagger
    from vcsep.datasets.solos import find_clips
    from vcsep.fusion.labels import label_recording
    from vcsep.media import write_video
    from vcsep.vision.composites import Composer, stamps_available
    from vcsep.vision.recognizer import Recognizer
    from vcsep.vision.train import PresenceScores

    solos = args.realdev / "solos"
    if not solos.is_dir():
        raise SystemExit(f"no real solo recordings at {solos} (pass --realdev or set VCSEP_REALDEV)")
    if not stamps_available():
        raise SystemExit("the tuxpaint-stamps-default photographs are missing (make setup installs them)")
    clips = find_clips(solos)
    needed = {code for scene in SCENES for code in scene}
    short = {c: len(clips.get(c, [])) for c in needed if len(clips.get(c, [])) < args.clips}
    if short:
        raise SystemExit(f"{solos}: fewer than {args.clips} clips of {short}")

    def mono(path: Path) -> np.ndarray:
        audio, rate = read_audio(path)
        return resample(audio.mean(0, keepdims=True), rate, RATE)[0]

    composer = Composer("heldout", size=(1280, 720))
    sight = Recognizer(DEFAULT_MODELS / "recognizer_head.pt")
    tagger = Tagger.load(DEFAULT_MODELS / "tagger.pt")
    folder = args.work / "real-scenes"
    folder.mkdir(parents=True, exist_ok=True)
    columns: dict[str, list] = {"sight": [], "sound": [], "fused": []}
    for kind, codes in enumerate(SCENES):
        for i in range(args.clips):
            picture = composer.compose(np.random.default_rng((args.seed, kind, i)), codes, distractor=False)
            stems = [mono(clips[c][i]) for c in codes]
            length = min(len(s) for s in stems)
            mixture = sum(s[:length] for s in stems)[None].astype(np.float32)
            video = folder / f"{'-'.join(codes)}-{i:02d}.mp4"
            frames = (picture.image for _ in range(int(length / RATE * FPS) + 1))
            write_video(video, frames, FPS, audio=mixture, sample_rate=RATE)
            result, _ = label_recording(video, sight=sight, tagger=tagger, use_cache=False)
            found = result.found()
            for name, present in found.items():
                columns[name].append((set(codes), present))
            row = {r["code"]: r for r in result.rows()}
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731  (sight None: nothing seen)
            shown = " ".join(
                f"{c}={'/'.join(fmt(row[c][k]) for k in ('sight', 'sound', 'fused'))}"
                for c in dict.fromkeys([*codes, "va"])
            )
            verdict = "ok" if found["fused"] == set(codes) else "WRONG"
            fused = ",".join(sorted(found["fused"]))
            print(f"  {video.stem:<10} fused {fused:<12} {verdict:<5} (sight/sound/fused) {shown}")
    scenes = columns["fused"]
    exact = sum(truth == present for truth, present in scenes) / len(scenes)
    f1 = {name: PresenceScores.of_pieces(rows).f1 or 0.0 for name, rows in columns.items()}
    print(f"{len(scenes)} scenes ({', '.join('+'.join(s) for s in SCENES)}; {args.clips} each)")
    print(
        f"exact_fraction={exact:.3f} fused_f1={f1['fused']:.3f} "
        f"sight_f1={f1['sight']:.3f} sound_f1={f1['sound']:.3f}"
    )


if __name__ == "__main__":
    main()
