"""An annotated preview of what the detector found: a strip of frames with their instrument boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vcsep import vocab
from vcsep.files import atomic_path
from vcsep.vision.detector import NO_SLOT, Detections
from vcsep.vision.video import decode_frames_at

# One colour per slot, from matplotlib's tab20 palette (distinct on dark and light stages).
SLOT_COLOURS = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
    (152, 223, 138),
]  # fmt: skip


def draw_preview(
    video: str | Path,
    detections: Detections,
    out_png: str | Path,
    *,
    n_frames: int = 6,
    min_score: float = 0.25,
    height: int = 240,
    columns: int = 3,
) -> Path:
    """Draw ``n_frames`` evenly spaced sampled frames, ``height`` pixels tall, with their boxes.

    Boxes of instrument classes scoring at least ``min_score`` are drawn with ``code score`` labels;
    frames are laid out ``columns`` per row. The PNG is written to a temporary sibling and renamed.
    """
    out_png = Path(out_png)
    if detections.n_frames == 0:
        raise ValueError(f"{video}: no sampled frames to draw")
    picks = np.unique(
        np.linspace(0, detections.n_frames - 1, min(n_frames, detections.n_frames)).round().astype(int)
    )
    scale = height / detections.frame_size[1]
    width = round(detections.frame_size[0] * scale)
    tiles = []
    for i, frame in zip(picks, decode_frames_at(video, detections.times_s[picks]), strict=True):
        tile = Image.fromarray(frame.image).resize((width, height))
        draw = ImageDraw.Draw(tile)
        keep = (detections.frame == i) & (detections.slots != NO_SLOT) & (detections.scores >= min_score)
        for box, slot, score in zip(
            detections.boxes[keep], detections.slots[keep], detections.scores[keep], strict=True
        ):
            colour = SLOT_COLOURS[slot]
            x1, y1, x2, y2 = (box * scale).tolist()
            draw.rectangle((x1, y1, x2, y2), outline=colour, width=2)
            draw.text((x1 + 2, max(0, y1 - 12)), f"{vocab.CODES[slot]} {score:.2f}", fill=colour)
        draw.text((4, 4), f"{frame.time_s:.1f} s", fill=(255, 255, 255))
        tiles.append(tile)
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (width * min(columns, len(tiles)), height * rows))
    for n, tile in enumerate(tiles):
        sheet.paste(tile, ((n % columns) * width, (n // columns) * height))
    with atomic_path(out_png) as tmp:
        sheet.save(tmp)
    return out_png
