"""The ``vcsep`` console script: a thin layer over library functions.

Each subcommand registers its parser and handler here; the work is done by functions the tests
call directly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from pathlib import Path

from vcsep import DEFAULT_MODELS, __version__
from vcsep.devices import device_argument
from vcsep.evaluation.commands import add_ablate_parser, add_evaluate_parser
from vcsep.vision.commands import (
    add_detect_parser,
    add_train_detector_parser,
    add_train_recognizer_parser,
)


def _size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (e.g. ``640x360``) into ``(width, height)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x360, got {text!r}") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size must be even and at least 64x64, got {text!r}")
    return w, h


def _cmd_synth(args: argparse.Namespace) -> int:
    from vcsep.datasets.synth import SynthSettings, synthesize_corpus
    from vcsep.datasets.synth.preview import write_preview

    settings = SynthSettings(
        seed=args.seed,
        soundfont=args.soundfont,
        size=args.size,
        max_seconds=args.max_seconds,
        timbres=tuple(t for t in args.timbres.split(",") if t),
        holdout_timbre=args.holdout_timbre,
        expressive=not args.dry,
        rooms=not args.dry,
        realnotes=args.realnotes,
        variants=args.variants,
    )
    written = synthesize_corpus(
        args.out, args.pieces, settings, jobs=args.jobs, overwrite=args.overwrite, progress=True
    )
    print(f"wrote {len(written)} pieces to {args.out}")
    if args.preview:
        print(f"listen: {write_preview(args.out)}")
    return 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    from vcsep.datasets.synth.timbres import DEFAULT_SOURCES, SOURCES

    p = sub.add_parser(
        "synth",
        help="write a synthetic corpus in URMP's exact layout",
        description="Render real scores with a GM soundfont and draw a performance video per piece, "
        "in URMP's folder layout, with ground-truth boxes and a train/test split.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (must be empty or new)")
    p.add_argument("--pieces", type=int, required=True, help="number of pieces")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same audio)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--soundfont", type=Path, default=None, help="GM .sf2/.sf3 for the fluidr3 source")
    p.add_argument("--size", type=_size, default=(640, 360), help="video size WxH (default 640x360)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="no piece is longer than this")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty output folder")
    p.add_argument(
        "--timbres",
        default=",".join(DEFAULT_SOURCES),
        help=f"timbre sources, a comma list of {', '.join(SOURCES)} (default: %(default)s)",
    )
    p.add_argument("--holdout-timbre", default=None, help="a source of --timbres kept for test pieces only")
    p.add_argument(
        "--realnotes",
        type=Path,
        default=None,
        help="folder of recorded notes with its notes.tsv, for the realnotes source "
        "(default: $VCSEP_REALNOTES or ../shared/realnotes beside the repository)",
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help="play a slot's family in its registers: soprano, alto, tenor and baritone sax (default: alto)",
    )
    p.add_argument("--dry", action="store_true", help="no expression, no rooms (as before #14)")
    p.add_argument("--preview", action="store_true", help="also write preview.html: parts with spectrograms")
    p.set_defaults(func=_cmd_synth)


def _cmd_demo(args: argparse.Namespace) -> int:
    from vcsep.demo import run_demo

    if not (args.models / "separator.pt").is_file():
        raise FileNotFoundError(
            f"no separator.pt in {args.models}: build the default models with `make models` or pass --models"
        )
    result = run_demo(args.out, args.models, args.piece, args.number, args.device, progress=True)
    print(f"\n{result.piece.name}: BSSEval v4 against the true stems (median over 1 s frames)")
    print(result.table())
    print(f"\nlisten: {result.separation.files['page']}")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="separate a held-out performance with the shipped models and score it",
        description="Synthesize a performance the default models never heard (or take a URMP piece "
        "folder), separate its video, print the SDR of each instrument against its true stem and write "
        "a page that plays the video with every stem in sync, and spectrograms.",
    )
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out)")
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="models folder (default: shipped)")
    p.add_argument("--piece", type=Path, default=None, help="a URMP piece folder to use instead")
    p.add_argument("--number", type=int, default=None, help="which held-out synthetic piece (its number)")
    p.add_argument("--device", type=device_argument, default="cpu", help="torch device, e.g. cpu or cuda:0")
    p.set_defaults(func=_cmd_demo)


def _cmd_prepare(args: argparse.Namespace) -> int:
    from vcsep.audio.waveunet import valid_shapes
    from vcsep.datasets import InMemoryMixer, MixConfig, Segment, load_dataset
    from vcsep.datasets.shards import write_shards

    input_length, output_length = valid_shapes(args.output_length, levels=args.levels)
    segment = Segment(input_length, output_length, args.sample_rate, args.channels)
    tracks = load_dataset(args.data, split=args.split)
    mixer = InMemoryMixer(
        tracks, segment, MixConfig(coherent=args.coherent), seed=args.seed, examples=args.examples
    )
    print(
        f"writing {args.examples} segments ({input_length} -> {output_length} samples at "
        f"{args.sample_rate} Hz) from {len(tracks)} tracks to {args.out}"
    )
    write_shards(mixer, args.out, num_workers=args.workers)
    return 0


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="write training segments as litdata shards",
        description="Mix training segments from a dataset and write them as litdata shards to a "
        "local folder or an s3:// URL, for streaming during training.",
    )
    p.add_argument(
        "--data",
        required=True,
        help="KIND:PATH, e.g. urmp:corpus (kinds: urmp, musdb4, "
        "musdb2, musdb4-hq, musdb2-hq, medleydb, bach10, stems)",
    )
    p.add_argument("--split", default=None, help="train or test (URMP layouts and MUSDB18)")
    p.add_argument("--out", required=True, help="output folder or s3://bucket/prefix")
    p.add_argument("--examples", type=int, default=1000, help="number of segments")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-length", type=int, default=16384, help="requested output samples")
    p.add_argument("--levels", type=int, default=12, help="Wave-U-Net levels (sets the context)")
    p.add_argument("--sample-rate", type=int, default=22050)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--coherent", type=float, default=0.5, help="share of coherent mixes")
    p.add_argument("--workers", type=int, default=1, help="litdata worker processes")
    p.set_defaults(func=_cmd_prepare)


def _cmd_train(args: argparse.Namespace) -> int:
    from vcsep.training.cli import train_main

    train_main(args.lightning_args)
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the separator (LightningCLI: fit, validate; --config YAML)",
        description="Train the conditioned separator with Lightning. Everything after 'train' goes to "
        "LightningCLI, e.g. 'vcsep train fit --config configs/base.yaml'; 'vcsep train fit --help' "
        "lists every option.",
        add_help=False,
    )
    p.add_argument("lightning_args", nargs=argparse.REMAINDER, help="LightningCLI arguments")
    p.set_defaults(func=_cmd_train)


def _cmd_export(args: argparse.Namespace) -> int:
    from vcsep.training.resume import export_run

    path, step = export_run(args.run_dir, args.out, args.checkpoint)
    print(f"separator of {args.run_dir} at step {step}: {path}")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the separator of a training run that has not ended (its best checkpoint)",
        description="Write the separator of a 'vcsep train' run folder as a separator checkpoint, for "
        "'vcsep separate --model' and 'vcsep evaluate': from the run's checkpoint with the highest "
        "step that fits its config.yaml, or from --checkpoint. A run that ends writes it itself.",
    )
    p.add_argument("run_dir", type=Path, help="the run folder (--run_dir of 'vcsep train')")
    p.add_argument("--checkpoint", type=Path, help="a Lightning checkpoint of the run (default: the best)")
    p.add_argument("--out", type=Path, help="file to write (default: RUN_DIR/separator-stepSTEP.pt)")
    p.set_defaults(func=_cmd_export)


def _cmd_separate(args: argparse.Namespace) -> int:
    from vcsep.pipeline import Separator, parse_instruments

    separator = Separator.from_pretrained(
        args.model, device=args.device, detector=args.detector, precision=args.precision
    )
    instruments = (
        parse_instruments(args.instruments, separator.sources) if args.instruments is not None else None
    )
    minus = parse_instruments(args.minus, separator.sources, "--minus") if args.minus is not None else []
    result = separator.separate_video(
        args.video, instruments, out_dir=args.out, progress=True, minus=list(dict.fromkeys(minus))
    )
    for name, path in result.files.items():
        print(f"  {name:<8} {path}")
    return 0


def _add_separate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "separate",
        help="separate a performance video (or an audio file) into one track per instrument",
        description="Read the audio, find the instruments by sight (the frames) and sound (the listening "
        "tagger), or take --instruments, separate, and write one WAV per instrument, for a video the "
        "video with one audio track per stem (picture not re-encoded), and index.html: a mixer that "
        "plays the video with every stem in sync (gain, mute, solo, minus one), what sight, sound and "
        "both found, and spectrograms.",
    )
    p.add_argument("video", type=Path, help="video with an audio track (mp4, mkv, mov...) or audio file")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODELS,
        help="folder with separator.pt (and baseline.pt, recognizer_head.pt, tagger.pt) or a separator "
        "checkpoint (default: the models shipped with vcsep; missing sight/sound models: the shipped ones)",
    )
    p.add_argument(
        "--detector", default=None, help="YOLO detector weights for sight (default: the ImageNet recogniser)"
    )
    p.add_argument("--instruments", default=None, help="skip detection: comma-separated codes, e.g. vn,vc")
    p.add_argument(
        "--minus",
        default=None,
        metavar="CODES",
        help="also write minus_<code>.wav per code (e.g. vn or vn,vc): the performance without that "
        "instrument, a practice track (the mixture less the stem)",
    )
    p.add_argument("--device", type=device_argument, default="cpu", help="torch device, e.g. cpu or cuda:0")
    p.add_argument(
        "--precision",
        choices=("32", "bf16"),  # vcsep.audio.inference.PRECISIONS, not imported: --help stays light
        default="32",
        help="separator arithmetic: 32 (float32) or bf16 (faster on CPUs with AVX512-BF16/AMX)",
    )
    p.set_defaults(func=_cmd_separate)


def _cmd_train_tagger(args: argparse.Namespace) -> int:
    from vcsep.training.tagger import train_tagger

    metrics = train_tagger(
        args.corpus,
        args.out,
        steps=args.steps,
        batch=args.batch,
        channels=args.channels,
        seed=args.seed,
        relative_level=args.relative_level,
        rolloff_db=args.rolloff_db,
        progress=True,
    )
    print(f"tagger: {metrics['weights']} (final loss {metrics['final_loss']:.3f})")
    if "test_presence" in metrics:
        print(f"test mixtures, presence F1: {metrics['test_presence']['micro']['f1']:.3f}")
    return 0


def _add_train_tagger(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-tagger",
        help="train the listening tagger on corpora in URMP's layout",
        description="Mix the train pieces' stems at random (mel-power domain), train the log-mel CNN that "
        "hears which instruments play and when, and score its presence on the test pieces' own mixtures.",
    )
    p.add_argument("--corpus", type=Path, action="append", required=True, help="corpus folder (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="tagger file to write (.pt; metrics beside)")
    p.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    p.add_argument("--batch", type=int, default=16, help="mixtures per step (default 16)")
    p.add_argument("--channels", type=int, default=32, help="width of the CNN (default 32)")
    p.add_argument(
        "--relative-level",
        action="store_true",
        help="hear each 5 s window relative to its loudest mel bin: the same labels at any level",
    )
    p.add_argument(
        "--rolloff-db",
        type=float,
        default=0.0,
        help="darken half the training stems above a random corner by up to this many dB (default 0: off)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_cmd_train_tagger)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every working subcommand."""
    parser = argparse.ArgumentParser(
        prog="vcsep", description="Separate music performance videos into one track per instrument."
    )
    parser.add_argument("--version", action="version", version=f"vcsep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_synth(sub)
    _add_demo(sub)
    _add_prepare(sub)
    _add_train(sub)
    _add_export(sub)
    _add_separate(sub)
    add_detect_parser(sub)
    add_train_detector_parser(sub)
    add_train_recognizer_parser(sub)
    _add_train_tagger(sub)
    add_evaluate_parser(sub)
    add_ablate_parser(sub)
    return parser


def error_message(err: BaseException) -> str:
    """One line for an expected failure: an OSError as ``FILE: cause``, anything else as its text."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as one ``vcsep: warning: ...`` line, without Python's file, line and source line."""
    return "vcsep: warning: " + " ".join(str(message).split()) + "\n"


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so that a terminated command unwinds as Ctrl-C does:
    every ``finally`` runs and removes its temporary files and work folders."""


def _terminate(signum, frame) -> None:
    raise Terminated


# Commands that train with Lightning, which handles SIGTERM itself (it saves a checkpoint first).
_OWN_SIGTERM = ("train", "ablate")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status: 0 done, 2 an expected failure
    (bad input, a file that cannot be read or written, a busy output folder), reported as one line
    naming the file and the cause; 130 interrupted; 143 terminated (SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # the format, not the display (warnings.showwarning): what records warnings keeps working
    shown, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    handler = None
    if args.command not in _OWN_SIGTERM and threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except (ValueError, OSError) as err:
        print(f"vcsep {args.command}: error: {error_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vcsep {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"vcsep {args.command}: terminated", file=sys.stderr)
        return 143
    finally:
        warnings.formatwarning = shown
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
