"""Tiny videos, a tiny corpus in the synthetic corpus's exact layout, and a tiny trained detector."""

from __future__ import annotations

import csv
import socket
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vcsep.media import write_video

FPS = Fraction(30000, 1001)
SAMPLE_RATE = 16_000


class Media:
    """Makers and readers of test media, handed to tests by the ``media`` fixture."""

    fps = FPS
    sample_rate = SAMPLE_RATE

    @staticmethod
    def coded_frames(n: int, width: int = 160, height: int = 96):
        """Frames whose left quarter is grey level ``4 * (index mod 64)``: the index can be read back."""
        for i in range(n):
            im = np.full((height, width, 3), 30, np.uint8)
            im[:, : width // 4] = 4 * (i % 64)
            im[height // 3 : 2 * height // 3, width // 2 : width // 2 + 20] = (200, 40, 40)
            yield im

    @staticmethod
    def frame_index_of(image: np.ndarray) -> int:
        """The index :meth:`coded_frames` wrote into a decoded (possibly downscaled) frame, mod 64."""
        return round(float(image[:, : image.shape[1] // 8].mean()) / 4)

    @staticmethod
    def sine(freq: float, seconds: float, channels: int = 2) -> np.ndarray:
        """float32 ``[channels, seconds x SAMPLE_RATE]`` sine of amplitude 0.3."""
        t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        return np.repeat(0.3 * np.sin(2 * np.pi * freq * t)[None], channels, 0).astype(np.float32)


@pytest.fixture(scope="session")
def media() -> Media:
    return Media()


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> Path:
    """3 s, 160x96, 29.97 fps H.264 with stereo 16 kHz AAC (a 440 Hz sine); 90 index-coded frames."""
    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    return write_video(
        path, Media.coded_frames(90), FPS, audio=Media.sine(440, 3.0), sample_rate=SAMPLE_RATE, gop=15
    )


# The tiny corpus: 128x72 frames, a red tall box (violin) and/or a blue wide box (flute) on grey.
_LOOK = {"vn": ((210, 40, 40), (18, 36)), "fl": ((40, 60, 220), (40, 14))}


def _write_piece(root: Path, number: int, title: str, codes: tuple[str, ...], seconds: float) -> str:
    folder = f"{number:02d}_{title}_{'_'.join(codes)}"
    (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(number)
    n = round(seconds * float(FPS))
    frames, rows = [], []
    for f in range(n):
        im = np.full((72, 128, 3), 110, np.uint8)
        for part, code in enumerate(codes, 1):
            colour, (w, h) = _LOOK[code]
            x = 10 + 60 * (part - 1) + int(8 * np.sin(f / 9 + part))
            y = 20 + int(rng.integers(-2, 3))
            im[y : y + h, x : x + w] = colour
            rows.append([f, f"{f / float(FPS):.4f}", part, code, x, y, x + w, y + h])
        frames.append(im)
    write_video(
        root / folder / f"Vid_{folder}.mp4",
        frames,
        FPS,
        audio=Media.sine(330, seconds),
        sample_rate=SAMPLE_RATE,
    )
    with open(root / folder / f"Vid_{folder}.boxes.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["frame", "time_s", "part", "code", "x1", "y1", "x2", "y2"])
        out.writerows(rows)
    return folder


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Four 2-second pieces in the synthetic corpus layout: three for training, one test piece."""
    root = tmp_path_factory.mktemp("corpus")
    pieces = [
        ("Alpha", ("vn", "fl"), "train"),
        ("Beta", ("vn",), "train"),
        ("Gamma", ("fl", "vn"), "train"),
        ("Delta", ("vn", "fl"), "test"),
    ]
    lines = ["folder\ttitle\tsplit"]
    for number, (title, codes, split) in enumerate(pieces, 1):
        lines.append(f"{_write_piece(root, number, title, codes, 2.0)}\t{title}\t{split}")
    (root / "split.tsv").write_text("\n".join(lines) + "\n")
    return root


class NetworkUsed(AssertionError):
    pass


@pytest.fixture(scope="session")
def network_attempts():
    """Every connection or DNS lookup tried while the session's detector work runs (they fail)."""
    attempts: list[str] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def deny_connect(self, address):
        attempts.append(f"connect {address}")
        raise NetworkUsed(f"network access to {address}")

    def deny_getaddrinfo(host, *args, **kwargs):
        attempts.append(f"getaddrinfo {host}")
        raise NetworkUsed(f"DNS lookup of {host}")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", deny_connect)
    mp.setattr(socket, "getaddrinfo", deny_getaddrinfo)
    yield attempts
    mp.undo()
    del connect, getaddrinfo


@pytest.fixture(scope="session")
def trained(tiny_corpus, tmp_path_factory, network_attempts) -> tuple[Path, int]:
    """`vcsep train-detector` on the tiny corpus (2 epochs, imgsz 64, an 1/16-width YOLOv8): (out dir, rc)."""
    from vcsep.cli import main

    out = tmp_path_factory.mktemp("detector")
    argv = [
        "train-detector",
        "--corpus",
        str(tiny_corpus),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--imgsz",
        "64",
    ]
    rc = main([*argv, "--width", "0.0625", "--fps", "6", "--batch", "8", "--workers", "0"])
    return out, rc


@pytest.fixture(scope="session")
def forced_weights(trained, tmp_path_factory):
    """``forced_weights(code)``: the tiny detector with its class logits pinned so that every anchor
    says ``code`` with confidence ~1 (``None``: nothing, ever). Known outputs through real inference."""
    import torch

    from vcsep import vocab
    from vcsep.vision.detector import Detector

    made: dict[str | None, Path] = {}

    def make(code: str | None) -> Path:
        if code not in made:
            yolo = Detector(trained[0] / "detector.pt").model
            with torch.no_grad():
                for branch in yolo.model.model[-1].cv3:  # the class branch of each scale of the Detect head
                    branch[-1].weight.zero_()
                    branch[-1].bias.fill_(-20.0)
                    if code is not None:
                        branch[-1].bias[vocab.index(code)] = 20.0
            made[code] = tmp_path_factory.mktemp("forced") / f"always_{code}.pt"
            yolo.save(made[code])
        return made[code]

    return make
