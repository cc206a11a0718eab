"""A listening page for a synthetic corpus: a few parts side by side, each with its player, spectrogram
and what made it (timbre source, vibrato, room), so that a person can hear what the generator does."""

from __future__ import annotations

import html
import json
from pathlib import Path

import soundfile as sf

from vcsep.audio.spectrogram import draw_spectrogram
from vcsep.datasets.urmp_names import PieceName
from vcsep.files import atomic_path, write_text

PAGE = "preview.html"
_SECONDS = 8.0


def pick_parts(meta: dict, count: int) -> list[tuple[dict, int]]:
    """Up to ``count`` ``(piece record, part index)`` pairs, taking timbre sources in turn so that
    every source of the corpus is heard, in piece order."""
    by_timbre: dict[str, list[tuple[dict, int]]] = {}
    for piece in meta["pieces"]:
        for i, part in enumerate(piece.get("parts", [])):
            by_timbre.setdefault(part["timbre"], []).append((piece, i))
    queues = [list(v) for v in by_timbre.values()]
    chosen: list[tuple[dict, int]] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


def _spectrogram(wav: Path, png: Path) -> None:
    """Spectrogram of the first seconds of ``wav`` (0-12 kHz) as a PNG, drawn like every other
    spectrogram of vcsep (:func:`vcsep.audio.spectrogram.draw_spectrogram`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    audio, rate = sf.read(wav, dtype="float32", frames=int(_SECONDS * 48000), always_2d=True)
    fig, ax = plt.subplots(figsize=(6, 2.2), dpi=80)
    draw_spectrogram(ax, audio.T, rate, "")
    ax.set_ylim(0, 12)
    ax.set_xlabel("s")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def write_preview(corpus: Path | str, count: int = 6) -> Path:
    """Write ``corpus/preview.html`` (and its spectrograms under ``corpus/preview/``) for up to
    ``count`` parts; returns the page's path. The players link the corpus's own stems."""
    corpus = Path(corpus)
    meta = json.loads((corpus / "corpus.json").read_text())
    images = corpus / "preview"
    images.mkdir(exist_ok=True)
    rows = []
    for piece, i in pick_parts(meta, count):
        name = PieceName.parse(piece["folder"])
        stem = Path(piece["folder"]) / name.part_file("AuSep", i + 1)
        png = images / f"{name.folder}_{i + 1}.png"
        _spectrogram(corpus / stem, png)
        part = piece["parts"][i]
        room = piece.get("room") or {}
        # the player's noise_db is its bow/breath noise; the room's floor keeps its own name
        about = {"instrument": part["code"], "timbre": part["timbre"], **part.get("player", {})}
        if room:
            about |= {k: room[k] for k in ("kind", "rt60_s", "noise_floor_db")}
        facts = ", ".join(f"{k} {v}" for k, v in about.items())
        rows.append(
            f"<tr><td><b>{html.escape(piece['folder'])}</b> part {i + 1}"
            f"<br><small>{html.escape(facts)}</small>"
            f'<br><audio controls preload="none" src="{html.escape(stem.as_posix())}"></audio></td>'
            f'<td><img src="preview/{png.name}" alt="spectrogram"></td></tr>'
        )
    timbres = sorted({p["timbre"] for piece in meta["pieces"] for p in piece.get("parts", [])})
    page = (
        "<!doctype html><meta charset=utf-8><title>vcsep synth preview</title>"
        "<style>body{font-family:sans-serif} td{vertical-align:top;padding:6px}</style>"
        f"<h1>{html.escape(corpus.name)}: {len(meta['pieces'])} pieces</h1>"
        f"<p>timbre sources: {html.escape(', '.join(timbres))}; spectrograms of the first "
        f"{_SECONDS:.0f} s of each stem (as the room's microphone hears the player alone)</p>"
        f"<table>{''.join(rows)}</table>\n"
    )
    return write_text(corpus / PAGE, page)
