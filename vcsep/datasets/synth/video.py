"""Procedural performance videos: players side by side, each with a drawn instrument.

Every instrument class has its own outline, colour and size (a double bass is tall and dark, a
flute a thin silver rod, a horn a golden coil...), jittered per piece so that a detector learns the
class and not one exact picture. Players move with their part's note activity. The ground-truth
box of every instrument in every frame is returned alongside, for training and scoring detectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from vcsep.datasets.synth.render import PlayedNote
from vcsep.media import write_video

FPS = Fraction(30000, 1001)  # URMP's 29.97 fps
BOX_HEADER = "frame,time_s,part,code,x1,y1,x2,y2\n"

# Instrument pictures: height as a fraction of the frame height, width/height aspect, base colour,
# whether it stands on the floor (else held at chest height), and its drawing (below).
_LOOKS: dict[str, tuple[float, float, tuple[int, int, int], bool]] = {
    "vn": (0.26, 0.38, (190, 95, 35), False),
    "va": (0.34, 0.38, (125, 35, 60), False),
    "vc": (0.56, 0.42, (115, 58, 28), True),
    "db": (0.76, 0.44, (72, 38, 22), True),
    "fl": (0.05, 9.0, (205, 205, 215), False),
    "ob": (0.30, 0.11, (165, 105, 60), False),
    "cl": (0.33, 0.17, (25, 25, 28), False),
    "sax": (0.36, 0.55, (222, 172, 42), False),
    "bn": (0.52, 0.17, (145, 55, 40), True),
    "tpt": (0.09, 3.2, (235, 190, 60), False),
    "hn": (0.27, 1.0, (200, 140, 50), False),
    "tbn": (0.12, 4.6, (240, 205, 90), False),
    "tba": (0.46, 0.75, (185, 185, 170), True),
}
_SILVER = (225, 225, 230)
_DARK = (20, 16, 14)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)


def _draw_instrument(draw: ImageDraw.ImageDraw, code: str, w: int, h: int, colour) -> None:
    """Draw instrument ``code`` filling a ``w`` x ``h`` pixel canvas."""
    dark, light = _shade(colour, 0.55), _shade(colour, 1.3)
    if code in ("vn", "va", "vc", "db"):
        neck_h = 0.30 * h
        body_top = neck_h
        lower = (
            0.0,
            body_top + 0.45 * (h - body_top),
            w - 1,
            h - 1 - (0.05 * h if code in ("vc", "db") else 0),
        )
        upper = (0.08 * w, body_top, 0.92 * w, body_top + 0.55 * (h - body_top))
        draw.ellipse(lower, fill=colour)
        draw.ellipse(upper, fill=colour)
        waist = body_top + 0.47 * (h - body_top)
        draw.rectangle((0.22 * w, waist - 0.08 * h, 0.78 * w, waist + 0.08 * h), fill=colour)
        draw.rectangle((0.43 * w, 0.04 * h, 0.57 * w, body_top + 0.5 * (h - body_top)), fill=_DARK)
        draw.ellipse((0.36 * w, 0.0, 0.64 * w, 0.08 * h), fill=dark)
        for x in (0.3, 0.7):  # f-holes
            draw.line((x * w, waist, x * w, waist + 0.15 * h), fill=_DARK, width=max(1, w // 30))
        if code in ("vc", "db"):
            draw.line((0.5 * w, h - 0.06 * h, 0.5 * w, h - 1), fill=_SILVER, width=max(2, w // 25))
    elif code == "fl":
        draw.rectangle((0, 0.2 * h, w - 1, 0.8 * h), fill=colour)
        for i in range(1, 9):
            x = w * (0.25 + 0.08 * i)
            draw.ellipse((x - 0.3 * h, 0.2 * h, x + 0.3 * h, 0.8 * h), fill=_shade(colour, 0.7))
        draw.rectangle((0.05 * w, 0.1 * h, 0.09 * w, 0.9 * h), fill=light)
    elif code in ("ob", "cl"):
        bell = 0.25 if code == "cl" else 0.12
        draw.polygon(
            [(0.3 * w, 0), (0.7 * w, 0), (0.78 * w, (1 - bell) * h), (0.7 * w, (1 - bell) * h)]
            + [(w - 1, h - 1), (0, h - 1), (0.3 * w, (1 - bell) * h), (0.22 * w, (1 - bell) * h)],
            fill=colour,
        )
        keys = _SILVER if code == "cl" else (235, 195, 80)  # oboes: light wood, gold keys
        for i in range(6):
            y = h * (0.15 + 0.11 * i)
            draw.rectangle((0.2 * w, y, 0.8 * w, y + 0.012 * h), fill=keys)
        if code == "ob":
            draw.rectangle((0.42 * w, 0, 0.58 * w, 0.06 * h), fill=(200, 170, 120))
    elif code == "sax":
        lw = max(3, int(0.22 * w))
        draw.line((0.15 * w, 0.05 * h, 0.35 * w, 0.15 * h), fill=colour, width=lw // 2)
        draw.line((0.35 * w, 0.15 * h, 0.35 * w, 0.8 * h), fill=colour, width=lw)
        draw.ellipse((0.25 * w, 0.62 * h, 0.75 * w, 0.98 * h), fill=colour)
        draw.polygon(
            [(0.55 * w, 0.85 * h), (0.7 * w, 0.45 * h), (w - 1, 0.3 * h), (0.95 * w, 0.6 * h)], fill=colour
        )
        draw.ellipse((0.75 * w, 0.22 * h, w - 1, 0.42 * h), fill=dark)
        for i in range(5):
            y = h * (0.25 + 0.1 * i)
            draw.ellipse((0.3 * w, y, 0.42 * w, y + 0.05 * h), fill=light)
    elif code == "bn":
        draw.rectangle((0.25 * w, 0.12 * h, 0.75 * w, h - 1), fill=colour)
        draw.rectangle((0.25 * w, 0.12 * h, 0.75 * w, 0.2 * h), fill=(235, 225, 200))
        draw.arc((0.0, 0.0, 0.6 * w, 0.25 * h), 180, 360, fill=_SILVER, width=max(2, w // 10))
        for i in range(4):
            y = h * (0.35 + 0.14 * i)
            draw.rectangle((0.25 * w, y, 0.75 * w, y + 0.012 * h), fill=_SILVER)
    elif code == "tpt":
        draw.rectangle((0.0, 0.42 * h, 0.75 * w, 0.58 * h), fill=colour)
        draw.polygon([(0.65 * w, 0.4 * h), (w - 1, 0.0), (w - 1, h - 1), (0.65 * w, 0.6 * h)], fill=colour)
        for x in (0.3, 0.38, 0.46):
            draw.rectangle((x * w, 0.1 * h, (x + 0.05) * w, 0.55 * h), fill=light)
        draw.rectangle((0.1 * w, 0.6 * h, 0.6 * w, 0.8 * h), outline=colour, width=max(2, h // 10))
    elif code == "hn":
        ring = max(3, int(0.13 * w))
        draw.ellipse((0.05 * w, 0.1 * h, 0.8 * w, 0.85 * h), outline=colour, width=ring)
        draw.ellipse((0.22 * w, 0.27 * h, 0.63 * w, 0.68 * h), outline=dark, width=max(2, ring // 2))
        draw.polygon(
            [(0.6 * w, 0.55 * h), (w - 1, 0.6 * h), (w - 1, h - 1), (0.55 * w, 0.8 * h)], fill=colour
        )
        draw.ellipse((0.35 * w, 0.4 * h, 0.5 * w, 0.55 * h), fill=light)
    elif code == "tbn":
        lw = max(2, int(0.12 * h))
        draw.line((0.0, 0.3 * h, 0.85 * w, 0.3 * h), fill=colour, width=lw)
        draw.line((0.0, 0.7 * h, 0.85 * w, 0.7 * h), fill=colour, width=lw)
        draw.line((0.02 * w, 0.3 * h, 0.02 * w, 0.7 * h), fill=colour, width=lw)
        draw.polygon([(0.7 * w, 0.2 * h), (w - 1, 0.0), (w - 1, h - 1), (0.7 * w, 0.8 * h)], fill=colour)
        draw.rectangle((0.45 * w, 0.25 * h, 0.5 * w, 0.75 * h), fill=light)
    elif code == "tba":
        draw.rectangle((0.25 * w, 0.25 * h, 0.75 * w, 0.92 * h), fill=colour)
        draw.polygon([(0.2 * w, 0.3 * h), (0.0, 0.0), (w - 1, 0.0), (0.8 * w, 0.3 * h)], fill=colour)
        draw.ellipse((0.1 * w, 0.6 * h, 0.9 * w, h - 1), fill=colour)
        draw.ellipse((0.35 * w, 0.45 * h, 0.65 * w, 0.7 * h), outline=dark, width=max(2, w // 15))
        for x in (0.32, 0.45, 0.58):
            draw.rectangle((x * w, 0.35 * h, (x + 0.07) * w, 0.55 * h), fill=light)
    else:
        raise ValueError(f"no picture for instrument code {code!r}")


@dataclass
class Player:
    """A drawn player: RGB picture, its opacity mask, where it stands and where its instrument is.

    ``rgb`` is ``[h, w, 3]`` uint8, ``mask`` ``[h, w]`` bool; ``x``/``y`` place its top-left corner
    in the frame; ``box`` is the instrument's ``(x1, y1, x2, y2)`` inside the picture.
    """

    code: str
    rgb: np.ndarray
    mask: np.ndarray
    x: int
    y: int
    box: tuple[int, int, int, int]


def _luma(rgb: tuple[int, int, int]) -> float:
    """Perceived brightness of an RGB colour, 0-255 (ITU-R BT.601 weights)."""
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def draw_player(code: str, slot_w: int, frame_h: int, rng: np.random.Generator) -> tuple[Player, int]:
    """Draw a player of ``code`` for a slot ``slot_w`` pixels wide; returns it (placed at x=0) and the
    y of its feet relative to the top of the picture."""
    rel_h, aspect, colour, on_floor = _LOOKS[code]
    scale = rng.uniform(0.92, 1.08)
    ih = rel_h * frame_h * scale
    iw = ih * aspect
    if iw > 0.9 * slot_w:  # wide instruments (flute, trombone) shrink to fit their slot
        iw, ih = 0.9 * slot_w, 0.9 * slot_w / aspect
    iw, ih = max(int(iw), 6), max(int(ih), 6)
    colour = tuple(int(np.clip(c + rng.integers(-18, 19), 0, 255)) for c in colour)

    body_h = int(0.62 * frame_h)
    pw = max(iw, int(0.45 * slot_w), int(0.3 * body_h))
    ph = max(body_h, ih + int(0.25 * body_h))
    picture = Image.new("RGBA", (pw, ph), (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)
    # the musician: a head and a torso in clothes of a random dark colour, feet at the bottom; a dark
    # instrument (clarinet) gets lighter clothes, or at 320 px it vanishes against them
    cx = pw // 2
    head = 0.16 * body_h
    clothes = rng.integers(20, 90, size=3)
    if _luma(colour) < 80:
        clothes = clothes + 90
    clothes = tuple(int(v) for v in clothes)
    skin = tuple(int(v) for v in (np.array([225, 180, 150]) * rng.uniform(0.55, 1.05)).clip(0, 255))
    top = ph - body_h
    draw.ellipse((cx - head / 2, top, cx + head / 2, top + head), fill=skin)
    draw.rounded_rectangle(
        (cx - 0.17 * body_h, top + head * 1.05, cx + 0.17 * body_h, ph - 1),
        radius=int(0.05 * body_h),
        fill=clothes,
    )

    instrument = Image.new("RGBA", (iw, ih), (0, 0, 0, 0))
    _draw_instrument(ImageDraw.Draw(instrument), code, iw, ih, colour)
    ix = cx - iw // 2
    iy = ph - ih if on_floor else int(top + head * 1.5)
    iy = min(iy, ph - ih)
    picture.alpha_composite(instrument, (ix, iy))
    alpha = np.asarray(instrument)[..., 3] > 0
    ys, xs = np.nonzero(alpha)
    box = (ix + int(xs.min()), iy + int(ys.min()), ix + int(xs.max()) + 1, iy + int(ys.max()) + 1)
    array = np.asarray(picture)
    return Player(code, np.ascontiguousarray(array[..., :3]), array[..., 3] > 0, 0, 0, box), ph


def stage_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A stage: a wall with curtain folds in a random colour, a wooden floor, soft spotlights.
    Returns ``[height, width, 3]`` uint8."""
    wall = rng.uniform(20, 150, size=3)
    floor = np.array([rng.uniform(90, 170), rng.uniform(55, 110), rng.uniform(25, 60)])
    floor_y = int(height * rng.uniform(0.72, 0.82))
    x = np.arange(width)[None, :, None]
    y = np.arange(height)[:, None, None]
    folds = 1.0 + 0.18 * np.sin(2 * np.pi * x / rng.uniform(18, 60) + rng.uniform(0, 6.3))
    image = wall * folds * (0.6 + 0.4 * y / height)
    boards = 0.9 + 0.1 * (((x + (y // 12) * 37) // rng.integers(50, 120)) % 2)
    image = np.where(y >= floor_y, floor * boards * (0.8 + 0.3 * (y - floor_y) / height), image)
    for _ in range(int(rng.integers(1, 4))):  # spotlights
        sx, sy, r = rng.uniform(0, width), rng.uniform(0, floor_y), rng.uniform(0.2, 0.5) * width
        image = image * (1.0 + 0.35 * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * r**2)))
    return np.clip(image, 0, 255).astype(np.uint8)


def activity(notes: list[PlayedNote], times: np.ndarray) -> np.ndarray:
    """Loudness of a part at ``times`` (seconds): note velocity / 127 while a note sounds, else 0."""
    level = np.zeros(len(times), dtype=np.float32)
    for n in notes:
        a, b = np.searchsorted(times, [n.onset, n.onset + n.duration])
        level[a:b] = np.maximum(level[a:b], n.velocity / 127)
    return level


def rgb_to_i420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range conversion (what H.264 decoders assume for untagged video).

    ``rgb`` is ``[h, w, 3]`` uint8 with even ``h`` and ``w``; returns the uint8 planes Y ``[h, w]``,
    U and V ``[h/2, w/2]`` (chroma averaged over 2x2 blocks).
    """
    x = rgb.astype(np.float32)
    y = 16.0 + x @ np.array([65.481, 128.553, 24.966], np.float32) / 255.0
    h, w = rgb.shape[:2]
    blocks = x.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    u = 128.0 + blocks @ np.array([-37.797, -74.203, 112.0], np.float32) / 255.0
    v = 128.0 + blocks @ np.array([112.0, -93.786, -18.214], np.float32) / 255.0
    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v))


class _Stage:
    """Composes frames directly in YUV 4:2:0, the encoder's own format.

    A player only ever stands at a handful of small offsets, so each player's region of the
    frame (its slot column, aligned to even pixels for the chroma planes) is composed and
    converted once per offset and then copied: a frame costs a few memory copies.
    """

    def __init__(self, background: np.ndarray, players: list[Player], slot_w: int, sway: tuple[int, int]):
        self.height, self.width = background.shape[:2]
        self.background = background
        self.players = players
        self.planes = rgb_to_i420(background)
        self.cache: dict[tuple[int, int, int], tuple[np.ndarray, ...]] = {}
        self.regions = []
        for i, p in enumerate(players):
            c0, c1 = 2 * (i * slot_w // 2), 2 * ((i + 1) * slot_w // 2)
            r0 = max(0, 2 * ((p.y - sway[1]) // 2))
            r1 = min(self.height, 2 * -(-(p.y + p.mask.shape[0] + sway[1]) // 2))
            self.regions.append((r0, r1, c0, c1))

    def _region(self, i: int, dx: int, dy: int) -> tuple[np.ndarray, ...]:
        key = (i, dx, dy)
        if key not in self.cache:
            r0, r1, c0, c1 = self.regions[i]
            p = self.players[i]
            rgb = self.background[r0:r1, c0:c1].copy()
            _paste(rgb, p, p.x + dx - c0, p.y + dy - r0)
            self.cache[key] = rgb_to_i420(rgb)
        return self.cache[key]

    def frame(self, offsets: list[tuple[int, int]]) -> av.VideoFrame:
        """The frame with player ``i`` moved by ``offsets[i] = (dx, dy)`` pixels."""
        h, w = self.height, self.width
        buf = np.empty(h * w * 3 // 2, dtype=np.uint8)
        y = buf[: h * w].reshape(h, w)
        u = buf[h * w : h * w * 5 // 4].reshape(h // 2, w // 2)
        v = buf[h * w * 5 // 4 :].reshape(h // 2, w // 2)
        y[:], u[:], v[:] = self.planes
        for i, (dx, dy) in enumerate(offsets):
            r0, r1, c0, c1 = self.regions[i]
            ry, ru, rv = self._region(i, dx, dy)
            y[r0:r1, c0:c1] = ry
            u[r0 // 2 : r1 // 2, c0 // 2 : c1 // 2] = ru
            v[r0 // 2 : r1 // 2, c0 // 2 : c1 // 2] = rv
        return av.VideoFrame.from_ndarray(buf.reshape(h * 3 // 2, w), format="yuv420p")


def write_performance_video(
    path: Path,
    boxes_path: Path,
    codes: tuple[str, ...],
    parts: list[list[PlayedNote]],
    mix: np.ndarray,
    sample_rate: int,
    size: tuple[int, int],
    rng: np.random.Generator,
) -> int:
    """Write the performance video (H.264 + AAC mix) and its ground-truth boxes CSV.

    ``mix`` is float32 ``[N]`` at ``sample_rate``; ``size`` is ``(width, height)`` in pixels (even).
    The players stand side by side in part order, each within its own column of the frame.
    Returns the number of frames written.
    """
    width, height = size
    duration = len(mix) / sample_rate
    n_frames = int(np.ceil(duration * FPS))
    times = np.arange(n_frames) / float(FPS)
    background = stage_background(width, height, rng)
    slot_w = width // len(codes)
    floor_y = int(0.93 * height)
    players = []
    for i, code in enumerate(codes):
        player, ph = draw_player(code, slot_w, height, rng)
        player.x = int(i * slot_w + (slot_w - player.rgb.shape[1]) / 2)
        player.y = max(0, floor_y - ph)
        players.append(player)
    sway = (3, 4)  # largest sideways and vertical movement, in pixels
    stage = _Stage(background, players, slot_w, sway)
    levels = [activity(notes, times) for notes in parts]
    phases = rng.uniform(0, 2 * np.pi, size=(len(codes), 2))

    rows = [BOX_HEADER]

    def frames():
        for f in range(n_frames):
            t = times[f]
            offsets = []
            for i, p in enumerate(players):
                # players sway and bob while their part sounds
                dx = int(round(sway[0] * levels[i][f] * np.sin(2 * np.pi * 0.9 * t + phases[i, 0])))
                dy = int(round(sway[1] * levels[i][f] * np.sin(2 * np.pi * 1.7 * t + phases[i, 1])))
                offsets.append((dx, dy))
                r0, r1, c0, c1 = stage.regions[i]
                x1, y1, x2, y2 = p.box
                bx1, by1 = max(c0, x1 + p.x + dx), max(r0, y1 + p.y + dy)
                bx2, by2 = min(c1, x2 + p.x + dx), min(r1, y2 + p.y + dy)
                rows.append(f"{f},{t:.4f},{i + 1},{p.code},{bx1},{by1},{bx2},{by2}\n")
            yield stage.frame(offsets)

    write_video(path, frames(), FPS, audio=mix[None], sample_rate=sample_rate, crf=23, preset="veryfast")
    boxes_path.write_text("".join(rows))
    return n_frames


def _paste(frame: np.ndarray, player: Player, x: int, y: int) -> None:
    """Copy the opaque pixels of ``player`` onto ``frame`` at ``(x, y)``, clipped to the frame."""
    h, w = player.mask.shape
    fx1, fy1 = max(x, 0), max(y, 0)
    fx2, fy2 = min(x + w, frame.shape[1]), min(y + h, frame.shape[0])
    if fx1 >= fx2 or fy1 >= fy2:
        return
    sub = (slice(fy1 - y, fy2 - y), slice(fx1 - x, fx2 - x))
    np.copyto(frame[fy1:fy2, fx1:fx2], player.rgb[sub], where=player.mask[sub][..., None])
