"""Training and check pictures for the recogniser: real instrument photographs on stages with clutter.

Debian's ``tuxpaint-stamps-default`` installs photo cut-outs (RGBA PNG) of a violin, a cello, a
trumpet and a bassoon, of other instruments (guitars, drums: not one of the 13 slots, so they teach
"an instrument, but none of ours") and of everyday things. Their licence does not let vcsep ship
them: they are read from the Debian install path, and anything that needs them checks
:func:`stamps_available` first.

:func:`composite` pastes 0-3 augmented instruments (scale, rotation, mirror, colour, blur) among
drawn people (dark clothes, a head, arms), music stands and stamp clutter, on a background of one of
two families that never mix:

- ``"train"``: drawn stages (a wall with curtain folds, a floor) and clutter from
  :data:`TRAIN_CLUTTER` categories;
- ``"heldout"``: backdrops made of enlarged, blurred stamps of :data:`HELDOUT_CLUTTER` categories,
  with clutter from them too: pictures the head never trained on, for the real-photograph check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from vcsep import vocab

STAMPS = Path("/usr/share/tuxpaint/stamps")
# Which pictures a seed gives: raised with every change that changes them (cached features name it).
VERSION = 2
MUSIC = "hobbies/music"
# The real photographs of slot instruments that tuxpaint-stamps-default ships.
REAL_INSTRUMENTS = {
    "vn": f"{MUSIC}/string/violin.png",
    "vc": f"{MUSIC}/string/cello.png",
    "tpt": f"{MUSIC}/brass/trumpet.png",
    "bn": f"{MUSIC}/wind/bassoon.png",
}
# Instruments outside the 13 slots: negatives that look like instruments.
DISTRACTORS = (
    f"{MUSIC}/string/guitar_classical.png",
    f"{MUSIC}/string/guitar2.png",
    f"{MUSIC}/string/guitar_electric.png",
    f"{MUSIC}/string/guitar_electric_bass.png",
    f"{MUSIC}/percussion/drumkit.png",
    f"{MUSIC}/percussion/cymbal_crash.png",
    f"{MUSIC}/percussion/drum_tomtom_floor.png",
)
TRAIN_CLUTTER = ("clothes", "household", "food", "town", "vehicles", "people")
HELDOUT_CLUTTER = ("animals", "plants", "sports", "seasonal", "space")
# Longest side of a pasted instrument, as a fraction of the picture height: players seen whole on
# a stage, from a far camera to a close one.
_INSTRUMENT_SIZE = {"vn": (0.22, 0.45), "tpt": (0.22, 0.45), "vc": (0.5, 0.9), "bn": (0.45, 0.85)}
_DISTRACTOR_SIZE = (0.2, 0.7)


def stamps_available() -> bool:
    """True when Debian's tuxpaint-stamps-default photographs are installed."""
    return all((STAMPS / p).is_file() for p in REAL_INSTRUMENTS.values())


def _stamp_files(categories: tuple[str, ...]) -> list[Path]:
    """PNG stamps of the categories, sorted (mirrored variants left out: augmentation mirrors)."""
    files = []
    for category in categories:
        files += [p for p in (STAMPS / category).rglob("*.png") if "_mirror" not in p.name]
    return sorted(files)


def _load(path: Path) -> Image.Image:
    return Image.open(path).convert("RGBA")


@dataclass(frozen=True)
class Composite:
    """A composed picture: ``image`` RGB uint8 ``[H, W, 3]``; ``codes`` the slot instruments on it;
    ``boxes`` their ``(x1, y1, x2, y2)`` pixels, one per code."""

    image: np.ndarray
    codes: tuple[str, ...]
    boxes: tuple[tuple[int, int, int, int], ...]

    @property
    def labels(self) -> np.ndarray:
        """Multi-hot float32 ``[K]`` of the instruments on the picture."""
        return vocab.multi_hot(self.codes)


class Composer:
    """Makes :class:`Composite` pictures of one background family, reproducibly from a seed.

    Args:
        family: ``"train"`` or ``"heldout"`` (see the module docstring).
        size: ``(width, height)`` of the pictures, pixels.
    """

    def __init__(self, family: str, size: tuple[int, int] = (768, 432)) -> None:
        if family not in ("train", "heldout"):
            raise ValueError(f"family must be 'train' or 'heldout', got {family!r}")
        if not stamps_available():
            raise FileNotFoundError(
                f"the tuxpaint-stamps-default photographs are not under {STAMPS}: "
                "apt-get install tuxpaint-stamps-default"
            )
        self.family, self.size = family, size
        self.clutter = [
            _load(p) for p in _stamp_files(TRAIN_CLUTTER if family == "train" else HELDOUT_CLUTTER)
        ]
        self.instruments = {code: _load(STAMPS / p) for code, p in REAL_INSTRUMENTS.items()}
        self.distractors = [_load(STAMPS / p) for p in DISTRACTORS]

    def background(self, rng: np.random.Generator) -> Image.Image:
        """A ``size`` RGBA background of this family."""
        w, h = self.size
        if self.family == "train":
            wall = rng.uniform(15, 170, size=3)
            x = np.arange(w)[None, :, None]
            y = np.arange(h)[:, None, None]
            folds = 1.0 + rng.uniform(0, 0.25) * np.sin(
                2 * np.pi * x / rng.uniform(12, 80) + rng.uniform(0, 6.3)
            )
            image = wall * folds * (rng.uniform(0.4, 0.8) + rng.uniform(0.2, 0.6) * y / h)
            floor_y = int(h * rng.uniform(0.65, 0.9))
            floor = rng.uniform(30, 170, size=3)
            image = np.where(y >= floor_y, floor * (0.8 + 0.3 * (y - floor_y) / h), image)
            image = image + rng.normal(0, rng.uniform(0, 8), size=image.shape)
            return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).convert("RGBA")
        backdrop = self.clutter[rng.integers(len(self.clutter))].convert("RGB").resize((w, h))
        backdrop = backdrop.filter(ImageFilter.GaussianBlur(rng.uniform(2, 8)))
        return ImageEnhance.Brightness(backdrop).enhance(rng.uniform(0.3, 0.9)).convert("RGBA")

    def _person(self, canvas: Image.Image, rng: np.random.Generator) -> tuple[int, int, int]:
        """Draw a seated or standing player (dark clothes, skin-toned head and hands); returns the
        centre x, the chest y and the body height where an instrument can go."""
        w, h = self.size
        body = int(h * rng.uniform(0.45, 0.85))
        cx = int(rng.uniform(0.1, 0.9) * w)
        feet = int(h * rng.uniform(0.85, 1.05))
        top = feet - body
        draw = ImageDraw.Draw(canvas)
        clothes = tuple(int(v) for v in rng.integers(5, 80, size=3)) + (255,)
        skin = tuple(int(v) for v in np.array([225, 180, 150]) * rng.uniform(0.45, 1.05)) + (255,)
        head = 0.15 * body
        draw.ellipse((cx - head / 2, top, cx + head / 2, top + head * 1.2), fill=skin)
        draw.rounded_rectangle(
            (cx - 0.16 * body, top + head * 1.15, cx + 0.16 * body, feet),
            radius=int(0.04 * body),
            fill=clothes,
        )
        for side in (-1, 1):  # arms towards the chest, where an instrument is held
            draw.line(
                (cx + side * 0.15 * body, top + 0.3 * body, cx + side * 0.05 * body, top + 0.5 * body),
                fill=clothes,
                width=max(2, int(0.05 * body)),
            )
        return cx, int(top + 0.45 * body), body

    def _music_stand(self, canvas: Image.Image, rng: np.random.Generator) -> None:
        w, h = self.size
        x, y = int(rng.uniform(0, w)), int(h * rng.uniform(0.3, 0.6))
        grey = int(rng.integers(10, 60))
        draw = ImageDraw.Draw(canvas)
        draw.line((x, y, x, h), fill=(grey, grey, grey, 255), width=2)
        sw = int(h * rng.uniform(0.12, 0.22))
        desk = (x - sw, y - sw // 2, x + sw, y + sw // 3)
        draw.rectangle(desk, fill=(grey, grey, grey, 255) if rng.random() < 0.5 else (235, 235, 225, 255))

    def _paste(
        self,
        canvas: Image.Image,
        item: Image.Image,
        side: float,
        centre: tuple[int, int],
        rng: np.random.Generator,
    ) -> tuple[int, int, int, int]:
        """Paste an augmented ``item`` with longest side ``side`` pixels centred at ``centre``;
        returns its box clipped to the canvas."""
        scale = side / max(item.size)
        item = item.resize(
            (max(4, round(item.width * scale)), max(4, round(item.height * scale))), Image.LANCZOS
        )
        if rng.random() < 0.5:
            item = item.transpose(Image.FLIP_LEFT_RIGHT)
        item = item.rotate(rng.uniform(-35, 35), resample=Image.BICUBIC, expand=True)
        rgb, alpha = item.convert("RGB"), item.getchannel("A")
        rgb = ImageEnhance.Brightness(rgb).enhance(rng.uniform(0.5, 1.3))
        rgb = ImageEnhance.Color(rgb).enhance(rng.uniform(0.6, 1.4))
        rgb = ImageEnhance.Contrast(rgb).enhance(rng.uniform(0.7, 1.3))
        if rng.random() < 0.3:
            rgb = rgb.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
        item = rgb.convert("RGBA")
        item.putalpha(alpha)
        x, y = centre[0] - item.width // 2, centre[1] - item.height // 2
        canvas.alpha_composite(item, (x, y)) if x >= 0 and y >= 0 else canvas.paste(item, (x, y), item)
        ys, xs = np.nonzero(np.asarray(alpha) > 0)
        w, h = self.size
        return (
            max(0, x + int(xs.min())),
            max(0, y + int(ys.min())),
            min(w, x + int(xs.max()) + 1),
            min(h, y + int(ys.max()) + 1),
        )

    def compose(
        self, rng: np.random.Generator, codes: tuple[str, ...] | None = None, distractor: bool = True
    ) -> Composite:
        """One picture; ``codes`` (a subset of :data:`REAL_INSTRUMENTS`) fixes the instruments on it,
        else 0-3 are drawn at random (an empty stage a fifth of the time). ``distractor``: a third of
        the pictures also get an instrument that is none of the 13 (a guitar, drums)."""
        w, h = self.size
        canvas = self.background(rng)
        for _ in range(int(rng.integers(0, 4))):  # clutter behind the players
            stamp = self.clutter[rng.integers(len(self.clutter))]
            self._paste(
                canvas,
                stamp,
                h * rng.uniform(0.15, 0.6),
                (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
                rng,
            )
        for _ in range(int(rng.integers(0, 3))):
            self._music_stand(canvas, rng)
        if codes is None:
            n = 0 if rng.random() < 0.2 else int(rng.integers(1, 4))
            codes = tuple(rng.choice(list(REAL_INSTRUMENTS), size=n, replace=False))
        for _ in range(int(rng.integers(0, 2))):  # players without an instrument
            self._person(canvas, rng)
        # every player first, then the instruments, so no player hides another's instrument; the
        # distractor before the slot instruments: a label must name what can be seen (a guitar in
        # front of a trumpet made a picture labelled "trumpet" that shows a guitar)
        holders = [self._person(canvas, rng) for _ in range(len(codes) + 1)]
        if rng.random() < 0.35 and distractor:  # an instrument none of the slots is, held by the last player
            item = self.distractors[rng.integers(len(self.distractors))]
            self._paste(canvas, item, h * rng.uniform(*_DISTRACTOR_SIZE), holders[-1][:2], rng)
        boxes = []
        for code, (cx, cy, _) in zip(codes, holders, strict=False):
            lo, hi = _INSTRUMENT_SIZE[code]
            boxes.append(self._paste(canvas, self.instruments[code], h * rng.uniform(lo, hi), (cx, cy), rng))
        image = np.asarray(canvas.convert("RGB"))
        return Composite(image, tuple(str(c) for c in codes), tuple(boxes))
