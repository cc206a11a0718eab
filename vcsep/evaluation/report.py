"""Pages people look at: the comparison of evaluated variants ("cells": a results table, violin
plots, audio players) and the page of one separation (a mixer that plays the video with every stem
in sync, and spectrograms per stem).

The comparison functions take ``results_by_cell``: cell name ->
:class:`~vcsep.evaluation.scoring.EvaluationResult`, in the order the cells should appear. Every page
is built by :func:`html_page`; files are written whole or not at all.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from pathlib import Path

import numpy as np

from vcsep.audio.spectrogram import draw_spectrogram
from vcsep.evaluation.scoring import EvaluationResult
from vcsep.files import atomic_path, copy_file, remove, temporary_name, write_text

PLOT_METRICS = ("SDR", "SIR", "SAR")
_STYLE = (
    "body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:100%}audio{width:100%}"
)
# The separation page's mixer: its script (inline in the page), the files the page keeps beside
# it, and its look.
MIXER_SCRIPT = Path(__file__).with_name("mixer.js")
PAGE_ASSETS = ("*.png", "*.audio.js")
_MIXER_STYLE = (
    "#mixer{border:1px solid #ccc;padding:8px;margin:1em 0}"
    "video#picture{display:block;max-width:100%;max-height:360px;margin:auto;background:#000}"
    ".transport{display:flex;gap:8px;align-items:center}#seek{flex:1}#clock{font-family:monospace}"
    ".tracks th,.tracks td{text-align:left;border:none}.tracks input{width:12em}"
    "button[aria-pressed=true]{background:#246;color:#fff}"
    ".minus-one .gain,.minus-one .mute,.minus-one .solo{opacity:.4}"  # not in effect during a minus one
    ".spectrogram{position:relative;display:inline-block;cursor:pointer}.spectrogram img{display:block}"
    ".cursor{position:absolute;width:2px;background:#0cf;pointer-events:none}"
)
TABLE_NOTE = (
    "Median SDR in dB with the interquartile range in brackets. Per instrument and 'all (pooled)': "
    "over every 1 s frame pooled across tracks (paper style); 'all (track medians)': median over "
    "track-instrument pairs of each one's median over frames. Frames where a source is silent are NaN "
    "in BSSEval and excluded. PES: predicted energy of absent instruments (dB, lower is better)."
)


def _spread(values: np.ndarray) -> tuple[float, float, float]:
    """(median, 25th, 75th percentile) of the non-NaN values; NaNs when there are none."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (float("nan"),) * 3
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return float(q50), float(q25), float(q75)


def _summary(results_by_cell: dict[str, EvaluationResult]) -> tuple[list[str], list[dict]]:
    """Instrument codes present in any cell, and per cell the ``(median, q25, q75)`` of every column."""
    if not results_by_cell:
        raise ValueError("no cells to report")
    codes: list[str] = []
    for result in results_by_cell.values():
        present = result.frames["instrument"][result.frames["present"]]
        codes += [c for c in dict.fromkeys(present.tolist()) if c not in codes]
    rows = []
    for cell, result in results_by_cell.items():
        frames, tracks = result.frames, result.tracks
        present = tracks["present"]
        row = {"cell": cell, "frames": int(np.sum(~np.isnan(frames["SDR"])))}
        row |= {c: _spread(frames["SDR"][frames["instrument"] == c]) for c in codes}
        row["all (pooled)"] = _spread(frames["SDR"])
        row["all (track medians)"] = _spread(tracks["SDR"][present])
        row["SDRi"] = _spread(tracks["SDRi"][present])
        row["SI-SDR"] = _spread(tracks["SI-SDR"][present])
        row["PES"] = _spread(tracks["PES"][~present])
        rows.append(row)
    return codes, rows


def _columns(codes: list[str]) -> list[str]:
    return [*codes, "all (pooled)", "all (track medians)", "SDRi", "SI-SDR", "PES"]


def _cell_text(value: tuple[float, float, float]) -> str:
    median, q25, q75 = value
    return "–" if np.isnan(median) else f"{median:.2f} [{q25:.2f}, {q75:.2f}]"


def results_table(results_by_cell: dict[str, EvaluationResult]) -> tuple[str, str]:
    """(markdown, CSV) of median SDR per instrument and overall per cell, with interquartile ranges.

    The CSV has, per column ``X``, ``X_median``, ``X_q25`` and ``X_q75`` (dB, empty when undefined)
    and the number of scored frames.
    """
    codes, rows = _summary(results_by_cell)
    columns = _columns(codes)
    lines = [
        "| cell | " + " | ".join(columns) + " | frames |",
        "|---" * (len(columns) + 2) + "|",
    ]
    for row in rows:
        lines.append(
            f"| {row['cell']} | " + " | ".join(_cell_text(row[c]) for c in columns) + f" | {row['frames']} |"
        )
    markdown = TABLE_NOTE + "\n\n" + "\n".join(lines) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cell", *(f"{c}_{s}" for c in columns for s in ("median", "q25", "q75")), "frames"])
    for row in rows:
        values = ["" if np.isnan(v) else f"{v:.4f}" for c in columns for v in row[c]]
        writer.writerow([row["cell"], *values, row["frames"]])
    return markdown, buffer.getvalue()


def violin_plots(results_by_cell: dict[str, EvaluationResult], out_dir) -> list[Path]:
    """One PNG per metric (``violin_sdr.png``, ``_sir``, ``_sar``) under ``out_dir``: the distribution of
    segment-wise (1 s) values of all instruments, one violin per cell. Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results_by_cell:
        raise ValueError("no cells to plot")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = list(results_by_cell)
    paths = []
    for metric in PLOT_METRICS:
        # violins need finite values: NaN frames are excluded, and so are +-inf (perfect frames)
        data = [r.frames[metric][np.isfinite(r.frames[metric])] for r in results_by_cell.values()]
        fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(cells) + 1.5), 4.0))
        filled = [i for i, d in enumerate(data) if d.size]
        if filled:
            parts = ax.violinplot(
                [data[i] for i in filled], positions=[i + 1 for i in filled], showmedians=True, widths=0.8
            )
            parts["cmedians"].set_color("black")
        for i, d in enumerate(data):
            if not d.size:
                ax.text(i + 1, 0.5, "no frames", ha="center", transform=ax.get_xaxis_transform())
        ax.set_xticks(range(1, len(cells) + 1), cells, rotation=20, ha="right")
        ax.set_xlim(0.3, len(cells) + 0.7)
        ax.set_ylabel(f"{metric} (dB)")
        title = f"Segment-wise {metric} (1 s frames, all instruments)"
        pooled = np.concatenate(data)
        if pooled.size:
            # near-silent frames score far below the rest (-150 dB); they would flatten every violin
            low, high = np.percentile(pooled, [1, 99.5])
            if pooled.min() < low - 10:
                ax.set_ylim(low - 5, max(high, pooled.max()) + 2)
                title += f"; axis from the 1st percentile, {int((pooled < low - 5).sum())} frames below"
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"violin_{metric.lower()}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "cell"


def html_report(
    results_by_cell: dict[str, EvaluationResult],
    out_dir,
    audio_examples: dict[str, list[tuple[str, Path]]] | None = None,
) -> Path:
    """A self-contained report folder: ``index.html`` with the results table, the violin plots and
    ``<audio>`` players for ``audio_examples`` (cell -> [(title, WAV path)]), copied under ``audio/``
    so every link is relative. Returns the path of ``index.html`` (written last)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    codes, rows = _summary(results_by_cell)
    columns = _columns(codes)
    plots = violin_plots(results_by_cell, out_dir)
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in ["cell", *columns, "frames"])
    body = "".join(
        f"<tr><td>{esc(r['cell'])}</td>"
        + "".join(f"<td>{esc(_cell_text(r[c]))}</td>" for c in columns)
        + f"<td>{r['frames']}</td></tr>"
        for r in rows
    )
    parts = [
        f"<p>{esc(TABLE_NOTE)}</p>",
        f'<table id="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
        "<h2>Segment-wise metrics</h2>",
        *(f'<p><img src="{esc(p.name)}" alt="{esc(p.stem)}"></p>' for p in plots),
    ]
    if audio_examples:
        parts.append("<h2>Audio examples</h2>")
        for cell, examples in audio_examples.items():
            folder = out_dir / "audio" / _slug(cell)
            folder.mkdir(parents=True, exist_ok=True)
            parts.append(f"<h3>{esc(cell)}</h3><ul>")
            for i, (title, wav) in enumerate(examples):
                wav = Path(wav)
                if not wav.is_file():
                    raise ValueError(f"audio example {title!r} of cell {cell!r}: {wav} does not exist")
                target = folder / f"{i:02d}_{_slug(wav.name)}"
                copy_file(wav, target)
                src = target.relative_to(out_dir).as_posix()
                player = f'<audio controls preload="none" src="{esc(src)}"></audio>'
                parts.append(f"<li>{esc(title)}<br>{player}</li>")
            parts.append("</ul>")
    return write_text(out_dir / "index.html", html_page("Separation results", parts))


def html_page(title: str, parts: list[str], style: str = "") -> str:
    """A complete HTML page: ``title`` (plain text, escaped) as its title and heading, then ``parts``
    (HTML fragments) in order, with the house style and then ``style`` (CSS). The empty icon keeps
    browsers from asking the folder for a favicon.ico it does not have."""
    head = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<link rel="icon" href="data:,">'
    )
    body = "\n".join([f"<h1>{html.escape(title)}</h1>", *parts])
    return f"{head}<style>{_STYLE}{style}</style></head><body>\n{body}\n</body></html>\n"


def spectrogram_png(
    audio: np.ndarray | Path, sample_rate: int, path: Path, title: str, log_frequency: bool = False
) -> tuple[Path, tuple[float, float, float, float]]:
    """A spectrogram picture of float32 ``[C, N]`` audio (or of a sound file, read a block at a time)
    at ``sample_rate`` Hz, written to ``path`` (``log_frequency``: see
    :func:`~vcsep.audio.spectrogram.draw_spectrogram`). Returns the path and the plot's box
    ``(left, right, top, bottom)`` as fractions of the picture's width and height from its top
    left corner (for a cursor drawn over it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.2))
    draw_spectrogram(ax, audio, sample_rate, title, log_frequency=log_frequency)
    ax.set_xlabel("time (s)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    box = ax.get_position()  # matplotlib's figure fractions count up from the bottom
    plt.close(fig)
    return path, (float(box.x0), float(box.x1), 1 - float(box.y1), 1 - float(box.y0))


def page_audio(wav: Path, path: Path, key: str) -> Path:
    """``path``: a script that sets ``window.vcsepAudio[key]`` to the sound of ``wav`` as 16-bit FLAC
    in base64, the mixer's copy of a track (see ``mixer.js``: a page opened from its folder may load
    scripts but not fetch files). Converted and encoded a block at a time."""
    import soundfile as sf

    flac = temporary_name(path.with_suffix(".flac"))
    try:
        with sf.SoundFile(str(wav)) as source, sf.SoundFile(
            str(flac), "w", source.samplerate, source.channels, subtype="PCM_16", format="FLAC"
        ) as target:
            for block in source.blocks(1 << 16, dtype="int16", always_2d=True):
                target.write(block)
        with atomic_path(path) as tmp, open(flac, "rb") as data, open(tmp, "w", encoding="ascii") as script:
            script.write(f"(window.vcsepAudio = window.vcsepAudio || {{}})[{json.dumps(key)}] = \"")
            while chunk := data.read(3 << 20):  # whole 3-byte groups: the pieces join into one base64
                script.write(base64.b64encode(chunk).decode("ascii"))
            script.write('";\n')
    finally:
        remove(flac)
    return path


def separation_page(
    out_dir: Path,
    title: str,
    tracks: dict[str, tuple[str, Path]],
    summary: list[str],
    picture: Path | None = None,
    files: list[Path] = (),
) -> Path:
    """``out_dir/index.html`` for one separation: a mixer, ``summary``, spectrograms and ``files``.

    ``tracks`` maps ``"mixture"`` and each stem's code to (heading, its WAV in ``out_dir``). The
    mixer (``mixer.js``, inline) plays them all in sync through the Web Audio API beside
    ``picture`` (a video in ``out_dir``, shown muted; None: the mixture's spectrogram as a still):
    play, pause and a seek bar drive every track; per track a gain slider, mute and solo, per stem a
    "minus one" button (the mixture less the stem, as :func:`vcsep.pipeline.write_minus_one`), each
    control carrying ``data-stem="<key>"``; the mixture starts muted. Below it,
    ``summary`` (HTML fragments), each track's spectrogram on a log-frequency axis (``<key>.png``,
    with a cursor at the position heard; a click seeks) and links to the WAVs and ``files``.

    Beside the page go the pictures and the mixer's copy of each track (``<key>.audio.js``, see
    :func:`page_audio`): :data:`PAGE_ASSETS`. Every address is a file name in ``out_dir``: the page
    works offline, opened from its folder or served. Returns the page's path.
    """
    out_dir = Path(out_dir)
    esc = html.escape
    if "mixture" not in tracks:
        raise ValueError("a separation page needs the mixture among its tracks")
    boxes, spectrograms, rows, config = {}, [], [], {"tracks": []}
    for key, (heading, wav) in tracks.items():
        png, (left, right, top, bottom) = spectrogram_png(
            wav, _rate(wav), out_dir / f"{key}.png", heading, log_frequency=True
        )
        cursor = f"left:{100 * left:.2f}%;top:{100 * top:.2f}%;height:{100 * (bottom - top):.2f}%"
        boxes[key] = (
            f'<div class="spectrogram" data-left="{left:.4f}" data-right="{right:.4f}">'
            f'<img src="{esc(png.name)}" alt="spectrogram of {esc(heading)}">'
            f'<div class="cursor" style="{cursor}"></div></div>'
        )
        spectrograms.append(f"<div>{boxes[key]}</div>")
        data = page_audio(wav, out_dir / f"{key}.audio.js", key)
        config["tracks"].append({"key": key, "data": data.name})
        stem = f'data-stem="{esc(key)}" disabled'
        minus_button = "" if key == "mixture" else f'<button class="minus" {stem}>minus one</button>'
        rows.append(
            f"<tr><th>{esc(heading)}</th>"
            f'<td><input class="gain" type="range" min="0" max="1" step="0.01" value="1" {stem} '
            f'aria-label="gain of {esc(heading)}"></td>'
            f'<td><button class="mute" {stem}>mute</button></td>'
            f'<td><button class="solo" {stem}>solo</button></td>'
            f"<td>{minus_button}</td></tr>"
        )
    if picture is not None:
        stage = f'<video id="picture" src="{esc(picture.name)}" muted playsinline preload="auto"></video>'
    else:
        stage = boxes["mixture"]
    mixer = (
        f'<div id="mixer">{stage}<p class="transport"><button id="play" disabled>play</button>'
        '<input id="seek" type="range" min="0" max="0" step="0.01" value="0" aria-label="position" disabled>'
        '<span id="clock"></span><span id="mixer-status">the mixer needs JavaScript</span></p>'
        f'<table class="tracks">{"".join(rows)}</table>'
        "<p>Minus one: the performance without that instrument, the mixture less its stem (a practice "
        "track; <code>vcsep separate --minus CODE</code> writes it as <code>minus_CODE.wav</code>).</p></div>"
    )
    links = [wav for _, wav in tracks.values()] + [Path(f) for f in files]
    listing = "".join(f'<li><a href="{esc(f.name)}">{esc(f.name)}</a></li>' for f in links)
    config_json = json.dumps(config).replace("</", "<\\/")
    parts = [
        mixer,
        *summary,
        "<h2>Spectrograms</h2>",
        *spectrograms,
        f"<h2>Files</h2><ul>{listing}</ul>",
        f'<script type="application/json" id="vcsep-mixer">{config_json}</script>',
        f"<script>{MIXER_SCRIPT.read_text(encoding='utf-8')}</script>",
    ]
    return write_text(out_dir / "index.html", html_page(title, parts, _MIXER_STYLE))


def _rate(path: Path) -> int:
    """The sample rate (Hz) of the sound file ``path``, from its header."""
    import soundfile as sf

    return sf.info(str(path)).samplerate
