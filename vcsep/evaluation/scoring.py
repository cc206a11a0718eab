"""Scoring separated tracks: tidy per-frame tables, per-track summaries, and their aggregates.

For every track and every slot of its vocabulary:

* present instruments (non-silent reference): BSSEval v4 SDR/SIR/SAR/ISR per 1 s frame
  (:mod:`vcsep.evaluation.bsseval`, museval or the fast scorer), SDR improvement over the mixture
  per frame (SDR of the estimate minus SDR of the unprocessed mixture taken as the estimate), and
  SI-SDR over the whole track;
* absent instruments: predicted energy at silence (PES) per frame, ``10*log10(sum of squares +
  1e-10)`` of the estimate (floor -100 dB); the same on the frames where a present instrument's
  reference is silent.

Frames where any reference or estimate of the track is silent are NaN in BSSEval (museval's rule);
every median here skips NaN frames and the aggregate counts how many were skipped.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcsep.evaluation.bsseval import METRICS, bss_eval, framewise_sdr, num_frames
from vcsep.files import write_text

PES_EPS = 1e-10
# A mixture this much (s) shorter than its stems is warned about: the stems' end goes unscored.
SHORTFALL_S = 0.05
FRAME_COLUMNS = ("track", "instrument", "present", "frame", *METRICS, "SDRi", "PES")
TRACK_COLUMNS = ("track", "instrument", "present", "frames", *METRICS, "SI-SDR", "SDRi", "PES")
TRACK_METRICS = (*METRICS, "SI-SDR", "SDRi", "PES")
FRAME_METRICS = (*METRICS, "SDRi", "PES")
BY_TRACK = "median_over_frames_then_tracks"
POOLED = "median_over_pooled_frames"


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB of ``estimate`` against ``reference`` (both ``[C, N]``).

    Channels are made zero-mean and scored as one signal (Le Roux et al. 2019); NaN for a silent
    reference.
    """
    s = reference - reference.mean(-1, keepdims=True)
    e = estimate - estimate.mean(-1, keepdims=True)
    energy = float(np.sum(s * s))
    if energy == 0:
        return float("nan")
    target = (np.sum(s * e) / energy) * s
    noise = float(np.sum((e - target) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(np.sum(target**2) / noise)


def _median(values: np.ndarray) -> float:
    """Median of the finite-or-infinite values, NaN when there are none (no warning)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else float("nan")


class Table:
    """Named columns of equal length (a tidy table): ``table["SDR"]`` is a numpy array."""

    def __init__(self, columns: Sequence[str], rows: Iterable[dict] = ()) -> None:
        rows = list(rows)
        self.columns = tuple(columns)
        self.data = {c: np.array([r[c] for r in rows]) for c in self.columns}

    def __len__(self) -> int:
        return len(self.data[self.columns[0]])

    def __getitem__(self, column: str) -> np.ndarray:
        return self.data[column]

    def rows(self) -> list[dict]:
        """Rows as dicts of plain Python values (NaN stays float NaN)."""
        return [
            {c: self.data[c][i].item() for c in self.columns} for i in range(len(self))
        ]

    def where(self, mask: np.ndarray) -> Table:
        """The rows where ``mask`` is True."""
        return Table(self.columns, (r for r, keep in zip(self.rows(), mask) if keep))

    def to_csv(self) -> str:
        """CSV text with a header line; NaN written as an empty field."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows():
            writer.writerow(["" if isinstance(v, float) and np.isnan(v) else v for v in row.values()])
        return buffer.getvalue()

    @classmethod
    def concat(cls, tables: Sequence[Table]) -> Table:
        if not tables:
            raise ValueError("nothing to concatenate")
        return cls(tables[0].columns, (r for t in tables for r in t.rows()))


@dataclass
class EvaluationResult:
    """Scores of some tracks: ``frames`` (one row per track, instrument slot, 1 s frame, columns
    :data:`FRAME_COLUMNS`) and ``tracks`` (one row per track and slot, columns :data:`TRACK_COLUMNS`:
    BSSEval metrics and SDRi are medians over the track's non-NaN frames, SI-SDR is whole-track, PES
    the median over the slot's silent frames). Metrics are in dB; NaN where undefined."""

    frames: Table
    tracks: Table
    metrics: str = "fast"

    @classmethod
    def concat(cls, results: Sequence[EvaluationResult]) -> EvaluationResult:
        """One result over the tracks of several."""
        results = list(results)
        if not results:
            raise ValueError("no evaluation results to combine")
        return cls(
            Table.concat([r.frames for r in results]),
            Table.concat([r.tracks for r in results]),
            results[0].metrics,
        )

    @property
    def track_names(self) -> list[str]:
        return list(dict.fromkeys(self.tracks["track"].tolist()))

    def track_json(self, name: str) -> dict:
        """One track's summary and frames as a JSON-ready dict."""
        summary = self.tracks.where(self.tracks["track"] == name).rows()
        frames = self.frames.where(self.frames["track"] == name)
        out = {"track": name, "metrics": self.metrics, "instruments": {}}
        for row in summary:
            code = row["instrument"]
            mine = frames.where(frames["instrument"] == code)
            out["instruments"][code] = {
                **{k: _plain(v) for k, v in row.items() if k not in ("track", "instrument")},
                "per_frame": {m: [_plain(v) for v in mine[m].tolist()] for m in FRAME_METRICS},
            }
        return out


def _plain(value):
    """JSON has no NaN/inf: write them as null / "inf" / "-inf"."""
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if np.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def _framed(x: np.ndarray, win: int, frames: int) -> np.ndarray:
    """``[C, N]`` -> ``[T, C, W]`` non-overlapping frames, W = min(win, N)."""
    width = min(win, x.shape[-1])
    return x[:, : frames * width].reshape(x.shape[0], frames, width).transpose(1, 0, 2)


def _pes(estimate_frames: np.ndarray) -> np.ndarray:
    """PES in dB of ``[T, C, W]`` estimate frames: ``[T]``."""
    return 10 * np.log10(np.sum(estimate_frames.astype(np.float64) ** 2, axis=(1, 2)) + PES_EPS)


def score_track(
    name: str,
    codes: Sequence[str],
    references: dict[str, np.ndarray],
    estimates: np.ndarray,
    mixture: np.ndarray,
    rate: int,
    metrics: str = "fast",
    device="cpu",
    window_seconds: float = 1.0,
) -> EvaluationResult:
    """Score one track's separated ``estimates [K, C, N]`` (slot order ``codes``).

    ``references`` maps each present code to its ``[C, N]`` stem, ``mixture`` is ``[C, N]``, all at
    ``rate`` Hz; signals are cut to the shortest length (with a warning when that cuts more than
    :data:`SHORTFALL_S` off a stem). Frames are ``window_seconds`` long with no
    overlap (a partial last frame is dropped, as museval does).
    """
    estimates = np.asarray(estimates)
    if estimates.ndim != 3 or estimates.shape[0] != len(codes):
        raise ValueError(f"{name}: estimates must be [K={len(codes)}, C, N], got shape {estimates.shape}")
    unknown = sorted(set(references) - set(codes))
    if unknown:
        raise ValueError(f"{name}: references for instruments not in the vocabulary: {unknown}")
    length = min([estimates.shape[-1], mixture.shape[-1], *(r.shape[-1] for r in references.values())])
    longest = max((r.shape[-1] for r in references.values()), default=0)
    if longest - length > SHORTFALL_S * rate:
        warnings.warn(
            f"track {name}: the mixture (or its separation) is {length / rate:.2f} s, its stems "
            f"{longest / rate:.2f} s: only the first {length / rate:.2f} s are scored",
            stacklevel=2,
        )
    estimates, mixture = estimates[..., :length], mixture[..., :length]
    win = round(window_seconds * rate)
    frames = num_frames(length, win, win)
    scored = [c for c in codes if c in references and np.any(references[c][..., :length] != 0)]
    refs = np.stack([references[c][..., :length] for c in scored]) if scored else None
    ests = np.stack([estimates[codes.index(c)] for c in scored]) if scored else None

    bss = {m: np.full((len(scored), frames), np.nan) for m in METRICS}
    sdri = np.full((len(scored), frames), np.nan)
    if scored:
        try:
            bss = bss_eval(refs, ests, win, win, metrics=metrics, device=device).as_dict()
            mix_sdr = framewise_sdr(refs, np.repeat(mixture[None], len(scored), 0), win, win, device)
        except ValueError as err:
            raise ValueError(f"track {name}: {err} (instruments {', '.join(scored)})") from err
        sdri = bss["SDR"] - mix_sdr

    frame_rows, track_rows = [], []
    for k, code in enumerate(codes):
        present = code in references
        est_frames = _framed(estimates[k], win, frames)
        if code in scored:
            i = scored.index(code)
            ref_silent = ~np.any(_framed(refs[i], win, frames) != 0, axis=(1, 2))
            values = {m: bss[m][i] for m in METRICS} | {"SDRi": sdri[i]}
            whole = si_sdr(refs[i], ests[i])
        else:
            ref_silent = np.ones(frames, dtype=bool)
            values = {m: np.full(frames, np.nan) for m in (*METRICS, "SDRi")}
            whole = float("nan")
        values["PES"] = np.where(ref_silent, _pes(est_frames), np.nan)
        for t in range(frames):
            frame_rows.append(
                {"track": name, "instrument": code, "present": present, "frame": t}
                | {m: float(values[m][t]) for m in FRAME_METRICS}
            )
        track_rows.append(
            {"track": name, "instrument": code, "present": present, "frames": frames}
            | {m: _median(values[m]) for m in FRAME_METRICS}
            | {"SI-SDR": whole}
        )
    return EvaluationResult(Table(FRAME_COLUMNS, frame_rows), Table(TRACK_COLUMNS, track_rows), metrics)


def evaluate_separator(
    model,
    tracks,
    metrics: str = "fast",
    device="cpu",
    progress: bool = False,
    labels_for: Callable[[object], np.ndarray] | None = None,
    rate: int | None = None,
) -> EvaluationResult:
    """Separate and score every track of ``tracks`` (:class:`vcsep.datasets.Track`).

    Each mixture is separated by :func:`vcsep.audio.inference.separate_long` on ``device`` at
    ``rate`` Hz (default: the model's rate), conditioned on ``labels_for(track)`` (``[K]`` or
    ``[K, T]``; default the ground-truth ``track.labels``); the unconditioned baseline gets no labels.
    """
    from vcsep.audio.inference import separate_long

    tracks = list(tracks)
    if not tracks:
        raise ValueError("no tracks to evaluate")
    rate = rate or model.sample_rate
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tracks), unit="track", desc="evaluating")
    results = []
    for track in tracks:
        codes = list(track.vocabulary.codes)
        if tuple(codes) != tuple(model.sources):
            raise ValueError(
                f"track {track.name}: vocabulary {track.vocabulary.name!r} ({', '.join(codes)}) is not "
                f"the separator's sources ({', '.join(model.sources)})"
            )
        mixture = track.mixture_audio(rate, model.channels)
        if getattr(model, "mechanism", None) is None:
            labels = None
        else:
            labels = track.labels if labels_for is None else labels_for(track)
        estimates = separate_long(model, mixture, rate, labels=labels, device=device)
        references = track.slot_audio(rate, model.channels)
        results.append(score_track(track.name, codes, references, estimates, mixture, rate, metrics, device))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return EvaluationResult.concat(results)


def aggregate(results: EvaluationResult | Sequence[EvaluationResult]) -> dict:
    """Medians of a result (or several, pooled), both ways, per instrument and overall.

    * :data:`BY_TRACK`: each track's median over its frames (the ``tracks`` table), then the median
      over tracks (``overall``: over every present track-instrument pair; PES over absent ones).
    * :data:`POOLED`: the median of all frames pooled, the paper-style number (``overall``: all
      instruments' frames together). SI-SDR is whole-track, so it is only in :data:`BY_TRACK`.

    NaN frames (a silent reference or estimate in the frame) are excluded from every median and
    counted in ``nan_frames_excluded``. Values are in dB; JSON-ready (NaN as None).
    """
    if not isinstance(results, EvaluationResult):
        results = EvaluationResult.concat(results)
    frames, tracks = results.frames, results.tracks

    def by_track(mask: np.ndarray) -> dict:
        out = {m: _plain(_median(tracks[m][mask])) for m in TRACK_METRICS}
        return out | {"tracks": int(mask.sum())}

    def pooled(mask: np.ndarray) -> dict:
        out = {m: _plain(_median(frames[m][mask])) for m in FRAME_METRICS}
        bss = frames["SDR"][mask & frames["present"]]
        return out | {"frames": int(bss.size), "nan_frames_excluded": int(np.isnan(bss).sum())}

    codes = list(dict.fromkeys(tracks["instrument"].tolist()))
    all_tracks, all_frames = np.ones(len(tracks), bool), np.ones(len(frames), bool)
    return {
        "metrics": results.metrics,
        "tracks": len(results.track_names),
        "note": "medians skip NaN frames (a silent reference or estimate in the frame, museval's rule); "
        "BSSEval metrics, SI-SDR and SDRi come from present instruments only, PES from silent frames",
        BY_TRACK: {
            "per_instrument": {c: by_track(tracks["instrument"] == c) for c in codes},
            "overall": by_track(all_tracks),
        },
        POOLED: {
            "per_instrument": {c: pooled(frames["instrument"] == c) for c in codes},
            "overall": pooled(all_frames),
        },
    }


def pair_sdrs(result: EvaluationResult, keep: Callable[[str, str], bool] = lambda track, code: True):
    """The median SDR (dB) over the present track-instrument pairs of ``result`` that
    ``keep(track, code)`` accepts (each pair's SDR is already the median over its frames), and each
    instrument's pair SDRs: ``(median, {code: [sdr, ...]})``; NaN when no pair is left."""
    by_code: dict[str, list[float]] = {}
    for row in result.tracks.rows():
        if row["present"] and keep(row["track"], row["instrument"]) and not np.isnan(row["SDR"]):
            by_code.setdefault(row["instrument"], []).append(row["SDR"])
    values = [v for vs in by_code.values() for v in vs]
    return (float(np.median(values)) if values else float("nan")), by_code


def write_result(result: EvaluationResult, out_dir: Path) -> list[Path]:
    """Per-track ``tracks/<name>.json`` and ``.csv`` (its frames), ``frames.csv``, ``tracks.csv`` and
    ``aggregate.json`` under ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    (out_dir / "tracks").mkdir(parents=True, exist_ok=True)
    written = []
    for name in result.track_names:
        written.append(write_text(out_dir / "tracks" / f"{name}.json", json.dumps(result.track_json(name))))
        mine = result.frames.where(result.frames["track"] == name)
        written.append(write_text(out_dir / "tracks" / f"{name}.csv", mine.to_csv()))
    written.append(write_text(out_dir / "frames.csv", result.frames.to_csv()))
    written.append(write_text(out_dir / "tracks.csv", result.tracks.to_csv()))
    written.append(write_text(out_dir / "aggregate.json", json.dumps(aggregate(result), indent=2)))
    return written
