"""Video I/O with PyAV (its bundled FFmpeg: no system ``ffmpeg`` needed).

- :func:`probe`: duration, frame rate, size and streams of a file, as a :class:`VideoInfo`.
- :func:`iter_frames`: RGB frames sampled at N frames per second, decoding no more than needed.
- :func:`iter_audio`, :func:`read_audio_track`: the audio track (streamed, or whole), float32 ``[C, N]``.
- :func:`mux_audio_tracks`: a copy of a video with one AAC track per stem, the picture stream-copied.
- :func:`copy_picture`: a copy of a video's picture alone, stream-copied (for a page to play).

Times are seconds from the start of the video stream. Every error about a file is a
:class:`VideoError` (a ``ValueError``) whose message names the file and what is wrong with it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import queue
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from vcsep.files import atomic_path
from vcsep.media import aac_rate, audio_blocks, audio_layout, av_reason, encode_audio, packet_time

# A decoded frame this close (relative) to the requested time counts as on time; larger gaps between
# the nominal and average rate mean the file has a variable frame rate.
_VFR_TOLERANCE = 0.01
# Seeking is worth it only when the next wanted frame is further ahead than this (seconds), and than
# the longest keyframe interval seen so far: a seek lands on the previous keyframe, so seeking to a
# nearer target could land behind the current position and decode the same frames twice.
_MIN_SEEK_GAP_S = 2.0
# A picture ending this long (s) before the duration in the header is a truncated file.
_TRUNCATION_S = 0.5

T = TypeVar("T")


class VideoError(ValueError):
    """A video file that cannot be used: unreadable, truncated, or missing a needed stream."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` finds in a file.

    ``fps`` is the average frame rate (frames/s); ``variable_frame_rate`` is True when the container's
    nominal rate disagrees with it, in which case frames are located by timestamp only (always safe).
    ``n_frames`` is the container's count, or an estimate from duration x fps when it has none.
    """

    path: Path
    duration_s: float
    fps: float
    width: int
    height: int
    n_frames: int
    video_codec: str
    variable_frame_rate: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    n_audio_streams: int

    @property
    def has_audio(self) -> bool:
        return self.n_audio_streams > 0


@dataclass(frozen=True)
class SampledFrame:
    """One decoded picture: ``time_s`` from the stream start, ``index`` = round(time x fps).

    ``image`` is RGB uint8 ``[H, W, 3]`` (possibly downscaled, see :func:`iter_frames`).
    """

    time_s: float
    index: int
    image: np.ndarray


def _open(path: Path) -> av.container.InputContainer:
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file")
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise VideoError(f"{path}: not a readable video file ({av_reason(err)})") from None


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoError(f"{path}: has no video stream")
    return container.streams.video[0]


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise VideoError(f"{path}: has no audio stream")
    return container.streams.audio[0]


def _stream_start_s(stream: av.stream.Stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _stream_duration_s(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def probe(path: str | Path) -> VideoInfo:
    """Read a file's header: duration (s), frame rate (frames/s), size (pixels), audio streams.

    Raises :class:`VideoError` when the file is missing, unreadable, has no video stream, or
    reports no frame rate, size or duration.
    """
    path = Path(path)
    with _open(path) as container:
        video = _video_stream(container, path)
        rate = video.average_rate or video.guessed_rate
        if not rate or not video.width or not video.height:
            raise VideoError(f"{path}: video stream has no frame rate or size (truncated file?)")
        duration = _stream_duration_s(container, video)
        if duration <= 0:
            raise VideoError(f"{path}: video stream has no duration (truncated file?)")
        nominal = video.base_rate or rate
        audio = container.streams.audio
        return VideoInfo(
            path=path,
            duration_s=duration,
            fps=float(rate),
            width=video.width,
            height=video.height,
            n_frames=video.frames or round(duration * float(rate)),
            video_codec=video.codec_context.name,
            variable_frame_rate=abs(float(nominal) / float(rate) - 1) > _VFR_TOLERANCE,
            audio_sample_rate=audio[0].rate if audio else None,
            audio_channels=audio[0].channels if audio else None,
            n_audio_streams=len(audio),
        )


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """``(width, height)`` shrunk (never enlarged) so the longer side is at most ``max_side``.

    Both sides stay even, as the YUV 4:2:0 conversion wants.
    """
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def sample_times(duration_s: float, fps: float, start_s: float = 0.0) -> np.ndarray:
    """Times (s) of the frames :func:`iter_frames` asks for: ``start_s + k / fps`` before ``duration_s``."""
    if fps <= 0:
        raise ValueError(f"sampling rate must be positive, got {fps} frames/s")
    n = max(0, math.ceil((duration_s - start_s) * fps - 1e-9))
    return start_s + np.arange(n) / fps


def iter_frames(
    path: str | Path,
    fps: float | None = None,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    max_side: int | None = None,
    threads: int = 0,
) -> Iterator[SampledFrame]:
    """Decode the frames nearest to ``start_s + k / fps`` (``fps`` None: the average frame rate,
    i.e. every frame of a constant-rate video).

    Decoding does no more than needed: frames between two wanted ones are decoded (H.264 needs them
    as references) but never converted to RGB, which is the costly part at 1080p; when the next
    wanted frame is far ahead, the decoder seeks (landing on the keyframe before it) and decodes
    forward from there. Frames are found by timestamp, so variable frame rates are handled: a wanted
    time in a gap gets the next frame, and one frame never serves two requests.

    Args:
        path: the video file.
        fps: frames per second to sample; None for every frame.
        start_s, end_s: the time range (s) to sample; ``end_s`` defaults to the end of the video.
        max_side: downscale so the longer side is at most this many pixels (None: full size).
        threads: decoder threads (0: FFmpeg picks, one per core).

    Yields:
        :class:`SampledFrame` in time order, ``image`` RGB uint8 ``[H, W, 3]``.

    Raises:
        VideoError: unreadable file, no video stream, or a decoding error (truncated file); the
            message names the file.
    """
    path = Path(path)
    info = probe(path)
    end = info.duration_s if end_s is None else min(end_s, info.duration_s)
    yield from _decode_at(
        path, info, sample_times(end, info.fps if fps is None else fps, start_s), max_side, threads
    )


def decode_frames_at(
    path: str | Path, times_s: Iterable[float], *, max_side: int | None = None, threads: int = 0
) -> Iterator[SampledFrame]:
    """Decode the frames nearest to the given times (s), in time order; see :func:`iter_frames`."""
    path = Path(path)
    info = probe(path)
    yield from _decode_at(path, info, np.sort(np.asarray(list(times_s), dtype=np.float64)), max_side, threads)


def _decode_at(
    path: Path, info: VideoInfo, targets: np.ndarray, max_side: int | None, threads: int
) -> Iterator[SampledFrame]:
    """The frames nearest to the sorted ``targets`` (s): the decoding loop of :func:`iter_frames`."""
    half_frame = 0.5 / info.fps
    width, height = scaled_size(info.width, info.height, max_side)
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        t0 = _stream_start_s(stream)
        k = 0
        last_time = -math.inf  # of the last frame served
        decoded_to = 0.0  # time of the furthest frame decoded
        last_key = None
        key_gap = 0.0
        seek_to = float(targets[0]) if len(targets) and targets[0] > _MIN_SEEK_GAP_S else None
        try:
            while k < len(targets):
                sought = seek_to
                if seek_to is not None:
                    container.seek(round((seek_to + t0) / stream.time_base), backward=True, stream=stream)
                    seek_to, last_key = None, None
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    t = frame.time - t0
                    decoded_to = max(decoded_to, t)
                    if sought is not None:
                        # Landed on a keyframe behind what was already decoded: keyframes are at least
                        # this far apart, so do not seek over shorter gaps again.
                        if t <= last_time:
                            key_gap = max(key_gap, sought - t)
                        sought = None
                    if frame.key_frame:
                        if last_key is not None and t > last_key:
                            key_gap = max(key_gap, t - last_key)
                        last_key = t
                    if t < targets[k] - half_frame or t <= last_time:
                        continue
                    last_time = t
                    rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
                    yield SampledFrame(time_s=t, index=round(t * info.fps), image=rgb)
                    # It serves wanted time k (always: a time halfway between two frames is served
                    # by the earlier one, which rounding must not let the next one serve again) and
                    # every wanted time up to it (a gap in a variable rate).
                    k += 1
                    while k < len(targets) and targets[k] < t + half_frame:
                        k += 1
                    if k == len(targets):
                        break
                    if targets[k] - t > max(_MIN_SEEK_GAP_S, 1.5 * key_gap):
                        seek_to = float(targets[k])
                        break
                else:
                    if info.duration_s - decoded_to > _TRUNCATION_S:
                        warnings.warn(
                            f"{path}: the picture ends at {decoded_to:.2f} s but the file says "
                            f"{info.duration_s:.2f} s (truncated file?); frames after that are missing",
                            stacklevel=2,
                        )
                    break
        except av.error.FFmpegError as err:
            raise VideoError(f"{path}: decoding failed after {decoded_to:.2f} s ({av_reason(err)})") from None


def iter_audio(path: str | Path, sample_rate: int | None = None) -> Iterator[np.ndarray]:
    """The first audio track as float32 ``[C, n]`` chunks in [-1, 1], one per decoded frame, at
    ``sample_rate`` Hz (None: the track's own rate), with the track's own ``C`` channels (any number:
    5.1 and 7.1 come out as 6 and 8 channels in the file's order).

    Memory stays that of one frame whatever the length. The last chunk is cut back to the stream's
    stated duration (AAC pads its last frame); audio ending well before it (a truncated file) is
    warned about. Raises :class:`VideoError` naming the file when it
    has no audio stream or cannot be decoded.
    """
    path = Path(path)
    with _open(path) as container:
        stream = _audio_stream(container, path)
        duration = _stream_duration_s(container, stream)
        # truncation is judged against the stream's own duration: a container's may be a longer picture's
        stated = stream.duration is not None
        rate = sample_rate or stream.rate
        remaining = round(duration * rate) if duration > 0 else math.inf
        # The file's own layout: swr resamples without remixing (it would drop the channels of a
        # layout it does not know when asked for stereo).
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
        try:
            for frame in itertools.chain(container.decode(stream), [None]):
                for chunk in resampler.resample(frame):
                    data = chunk.to_ndarray().astype(np.float32, copy=False)[:, : max(remaining, 0)]
                    remaining -= data.shape[1]
                    if data.shape[1]:
                        yield data
        except av.error.FFmpegError as err:
            raise VideoError(f"{path}: audio decoding failed ({av_reason(err)})") from None
    if stated and remaining > _TRUNCATION_S * rate:
        warnings.warn(
            f"{path}: the audio ends at {duration - remaining / rate:.2f} s but the file says "
            f"{duration:.2f} s (truncated file?); the rest is missing",
            stacklevel=2,
        )


def read_audio_track(path: str | Path, sample_rate: int) -> np.ndarray:
    """The first audio track resampled to ``sample_rate`` Hz, float32 ``[C, N]`` in [-1, 1], with the
    track's own channels (see :func:`iter_audio`)."""
    path = Path(path)
    with _open(path) as container:
        channels = _audio_stream(container, path).channels
    chunks = list(iter_audio(path, sample_rate))
    return np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), dtype=np.float32)


def prefetch(items: Iterator[T], depth: int) -> Iterator[T]:
    """Yield ``items`` while a background thread computes up to ``depth`` of them ahead.

    FFmpeg decoding and encoding and torch inference release the GIL, so decoding the next frames
    overlaps detection on the current ones, and audio tracks encode side by side. An exception in
    the producer is re-raised here.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as err:  # handed to the consumer, which re-raises it
            put((end, err))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item, err = slots.get()
            if item is end:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        worker.join()


def mux_audio_tracks(
    video_path: str | Path,
    tracks: Mapping[str, np.ndarray],
    sample_rate: int,
    out_path: str | Path,
    *,
    keep_original_audio: bool = True,
    bit_rate: int = 192_000,
) -> Path:
    """Write a copy of a video with one AAC audio track per stem; the picture is not re-encoded.

    Args:
        video_path: source video; its video packets are stream-copied.
        tracks: stem name -> float32 ``[C, N]`` audio at ``sample_rate`` Hz (C = 1 or 2), or the path
            of a sound file holding it (read block by block: memory does not grow with its length);
            the name becomes the track title. Order is kept.
        sample_rate: Hz of every track; encoded at :func:`aac_rate` of it (AAC takes at most 96 kHz).
        out_path: output file (its suffix picks the container, e.g. ``.mp4`` or ``.mkv``); written to
            a temporary sibling and renamed when complete.
        keep_original_audio: also stream-copy the source's audio tracks, before the stems.
        bit_rate: AAC bit rate per track, bits/s.

    Returns:
        ``out_path``.
    """
    if not tracks:
        raise ValueError(f"{out_path}: no audio tracks to mux")
    return _remux(video_path, tracks, sample_rate, out_path, keep_original_audio, bit_rate)


def copy_picture(video_path: str | Path, out_path: str | Path) -> Path:
    """``out_path``: the picture of ``video_path`` alone, stream-copied, without any audio track
    (written to a temporary sibling and renamed when complete).

    What a web page shows beside audio it plays itself: a browser runs a ``<video>`` that has an
    audio track on that track's clock, muted or not, and that clock follows a playback-rate change
    only after its buffer drains (in Chromium the picture jumped back about 40 ms a second after
    each change), so a page cannot steer it onto its own clock; a picture alone runs on the wall
    clock and follows within a millisecond.
    """
    return _remux(video_path, {}, 0, out_path, keep_original_audio=False, bit_rate=0)


def _remux(
    video_path: str | Path,
    tracks: Mapping[str, np.ndarray],
    sample_rate: int,
    out_path: str | Path,
    keep_original_audio: bool,
    bit_rate: int,
) -> Path:
    """:func:`mux_audio_tracks`, where ``tracks`` may be empty."""
    video_path, out_path = Path(video_path), Path(out_path)
    try:
        with atomic_path(out_path) as tmp, _open(video_path) as src, av.open(str(tmp), "w") as dst:
            in_video = _video_stream(src, video_path)
            copied = [in_video] + (list(src.streams.audio) if keep_original_audio else [])
            out_of = {s.index: dst.add_stream_from_template(s) for s in copied}
            encoders = []
            for name, audio in tracks.items():
                channels, blocks = audio_blocks(audio, 1 << 14)
                stream = dst.add_stream(
                    "aac",
                    rate=aac_rate(sample_rate),
                    layout=audio_layout(channels, f"{out_path}: track {name!r}"),
                )
                stream.bit_rate = bit_rate
                stream.metadata["title"] = name
                stream.metadata["handler_name"] = name
                # each track encodes in its own thread, a bounded number of packets ahead
                encoders.append(prefetch(encode_audio(stream, blocks, sample_rate), depth=64))
            # Interleave by decode time so the muxer never buffers a whole track in memory.
            copied_packets = (p for p in src.demux(copied) if p.dts is not None)
            for packet in heapq.merge(copied_packets, *encoders, key=packet_time):
                if packet.stream.index in out_of and packet.stream.container is src:
                    packet.stream = out_of[packet.stream.index]
                dst.mux(packet)
    except av.error.FFmpegError as err:
        raise VideoError(f"{video_path}: muxing into {out_path} failed ({av_reason(err)})") from None
    return out_path
