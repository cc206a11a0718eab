"""Corpora that travel: a corpus packed into parts of at most 60 MB, and unpacked again.

A GPU machine takes at most 64 MB per transfer and cannot reach the internet, so a corpus goes
there in parts: each a tar of whole pieces, stems resampled to the model's rate (22050 Hz by
default) and stored as 16-bit FLAC: lossless coding of 16-bit samples, whose rounding (about
-101 dBFS RMS) lies over 25 dB under the noise floor every piece already has (-62 to -75 dB under
its peak), so training sees no difference; 24 bits would take 1.6 times the space. Parts also hold
the notes, F0s, score and boxes (and, on request, the video); every part carries ``corpus.json``
and ``split.tsv``. The mixture is not stored: unpacking
writes it as the exact float32 sum of the decoded stems, as the generator does. Unpacked, a corpus
has URMP's layout again, at the packed rate.

    python -m vcsep.datasets.synth.pack pack CORPUS PARTS_DIR [--rate 22050] [--video]
    python -m vcsep.datasets.synth.pack unpack PARTS_DIR/corpus-part*.tar --out CORPUS
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vcsep.datasets.urmp_names import FOLDER_RE, PieceName
from vcsep.files import atomic_path

PART_BYTES = 60 * 2**20
_TAR_OVERHEAD = 1024  # a member's header and padding, at most


def _piece_members(folder: Path, rate: int, video: bool) -> tuple[list[tuple[str, bytes]], float]:
    """The files of one packed piece as ``(name in the tar, bytes)`` and its length in seconds."""
    name = PieceName.parse(folder.name)
    members, seconds = [], 0.0
    for file in sorted(folder.iterdir()):
        arc = f"{folder.name}/{file.name}"
        if file.name == name.mix or (file.name == name.video and not video):
            continue
        if file.name.startswith("AuSep_"):
            audio, native = sf.read(file, dtype="float32")
            seconds = len(audio) / native
            if native != rate:
                audio = soxr.resample(audio, native, rate, quality="HQ")
            buffer = io.BytesIO()
            sf.write(buffer, np.clip(audio, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
            members.append((arc[: -len(".wav")] + ".flac", buffer.getvalue()))
        else:
            members.append((arc, file.read_bytes()))
    return members, seconds


def _write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with atomic_path(path) as tmp, tarfile.open(tmp, "w") as tar:
        for arc, data in members:
            info = tarfile.TarInfo(arc)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def pack_corpus(
    corpus: Path | str, out: Path | str, rate: int = 22050, part_bytes: int = PART_BYTES, video: bool = False
) -> list[tuple[Path, float]]:
    """Pack ``corpus`` into ``out/corpus-partNNN.tar`` files of at most ``part_bytes`` bytes each,
    whole pieces in piece order. Returns each part with the seconds of audio (piece lengths) it
    holds. A piece that alone exceeds ``part_bytes`` is a ``ValueError``."""
    corpus, out = Path(corpus), Path(out)
    meta = json.loads((corpus / "corpus.json").read_text())
    meta |= {"sample_rate": rate, "packed_from_rate": meta["sample_rate"], "packed_video": video}
    shared = [
        ("corpus.json", (json.dumps(meta, indent=2) + "\n").encode()),
        ("split.tsv", (corpus / "split.tsv").read_bytes()),
    ]
    base = sum(len(d) + _TAR_OVERHEAD for _, d in shared) + 2 * _TAR_OVERHEAD
    out.mkdir(parents=True, exist_ok=True)
    parts: list[tuple[Path, float]] = []
    current: list[tuple[str, bytes]] = []
    size, seconds = base, 0.0

    def flush() -> None:
        path = out / f"corpus-part{len(parts):03d}.tar"
        _write_tar(path, shared + current)
        parts.append((path, seconds))

    for folder in sorted(p for p in corpus.iterdir() if p.is_dir() and FOLDER_RE.match(p.name)):
        members, length = _piece_members(folder, rate, video)
        piece_size = sum(len(d) + _TAR_OVERHEAD for _, d in members)
        if base + piece_size > part_bytes:
            raise ValueError(f"{folder}: one piece takes {piece_size / 2**20:.1f} MB, more than a part holds")
        if size + piece_size > part_bytes:
            flush()
            current, size, seconds = [], base, 0.0
        current += members
        size += piece_size
        seconds += length
    if current:
        flush()
    return parts


def unpack_corpus(parts: list[Path | str], out: Path | str) -> list[Path]:
    """Unpack parts into ``out`` in URMP's layout (float WAV stems at the packed rate, each mixture
    the float32 sum of its stems); returns the piece folders. Each piece is written under a
    temporary name and renamed when whole."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for part in parts:
        with tarfile.open(part) as tar:
            files: dict[str, dict[str, bytes]] = {}
            for member in tar.getmembers():
                if not member.isfile() or ".." in Path(member.name).parts or member.name.startswith("/"):
                    raise ValueError(f"{part}: unexpected member {member.name!r}")
                folder, _, name = member.name.rpartition("/")
                files.setdefault(folder, {})[name] = tar.extractfile(member).read()
        for name, data in files.pop("", {}).items():
            with atomic_path(out / name) as tmp:
                tmp.write_bytes(data)
        for folder, members in files.items():
            folders.append(_unpack_piece(out, folder, members))
    return folders


def _unpack_piece(out: Path, folder: str, members: dict[str, bytes]) -> Path:
    piece = PieceName.parse(folder)
    final = out / folder
    if final.exists():
        raise FileExistsError(f"{final} exists; unpack into an empty folder")
    with atomic_path(final) as tmp:
        tmp.mkdir()
        stems, rate = [], 0
        for name, data in sorted(members.items()):
            if name.endswith(".flac"):
                audio, rate = sf.read(io.BytesIO(data), dtype="float32")
                sf.write(tmp / (name[: -len(".flac")] + ".wav"), audio, rate, subtype="FLOAT")
                stems.append(audio)
            else:
                (tmp / name).write_bytes(data)
        mix = np.sum(stems, axis=0, dtype=np.float64).astype(np.float32)
        sf.write(tmp / piece.mix, mix, rate, subtype="FLOAT")
    return final


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="corpus -> parts of at most 60 MB")
    p.add_argument("corpus", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--rate", type=int, default=22050, help="sample rate of the packed stems (the model's)")
    p.add_argument("--video", action="store_true", help="carry the videos too")
    u = sub.add_parser("unpack", help="parts -> corpus in URMP's layout")
    u.add_argument("parts", type=Path, nargs="+")
    u.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "pack":
        for path, seconds in pack_corpus(args.corpus, args.out, args.rate, video=args.video):
            print(f"{path}: {path.stat().st_size / 2**20:.1f} MB, {seconds / 60:.1f} min of pieces")
    else:
        print(f"unpacked {len(unpack_corpus(args.parts, args.out))} pieces into {args.out}")


if __name__ == "__main__":
    main()
