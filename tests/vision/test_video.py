from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from vcsep.media import write_video
from vcsep.vision.video import (
    VideoError,
    copy_picture,
    decode_frames_at,
    iter_frames,
    mux_audio_tracks,
    probe,
    read_audio_track,
    sample_times,
    scaled_size,
)


def test_probe_reports_duration_rate_size_and_streams(tiny_video, media):
    info = probe(tiny_video)
    assert info.duration_s == pytest.approx(90 / float(media.fps), abs=0.01)
    assert info.fps == pytest.approx(29.97, abs=0.001)
    assert (info.width, info.height, info.n_frames, info.video_codec) == (160, 96, 90, "h264")
    assert not info.variable_frame_rate
    assert (info.n_audio_streams, info.audio_sample_rate, info.audio_channels) == (1, media.sample_rate, 2)


def test_iter_frames_samples_the_frames_nearest_to_the_requested_times(tiny_video, media):
    frames = list(iter_frames(tiny_video, fps=2))
    assert [f.index for f in frames] == [0, 15, 30, 45, 60, 75]
    assert [media.frame_index_of(f.image) for f in frames] == [0, 15, 30, 45, 60, 75 % 64]
    assert np.allclose(
        [f.time_s for f in frames], np.array([0, 15, 30, 45, 60, 75]) / float(media.fps), atol=1e-3
    )
    assert all(f.image.shape == (96, 160, 3) and f.image.dtype == np.uint8 for f in frames)


@pytest.mark.parametrize("frames_per_sample", [1.5, 2.5, 7.5])
def test_a_time_halfway_between_two_frames_is_served_once(tiny_video, media, frames_per_sample):
    """Sampling every 2.5 frames asks for times that fall halfway between two frames; each is served
    by one frame (the 30 s demo video at 16 frames gave 19: duplicates where rounding disagreed)."""
    fps = float(media.fps) / frames_per_sample
    frames = list(iter_frames(tiny_video, fps=fps))
    wanted = sample_times(probe(tiny_video).duration_s, fps)
    assert len(frames) == len(wanted)
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices))
    assert np.all(np.abs(np.array([f.time_s for f in frames]) - wanted) <= 0.5 / float(media.fps) + 1e-6)


def test_iter_frames_every_frame_and_downscaled(tiny_video, media):
    frames = list(iter_frames(tiny_video, max_side=80))
    assert len(frames) == 90
    assert frames[0].image.shape == (48, 80, 3)
    assert [media.frame_index_of(f.image) for f in frames[::10]] == list(range(0, 64, 10)) + [
        i % 64 for i in range(70, 90, 10)
    ]
    assert scaled_size(1920, 1080, 640) == (640, 360)
    assert scaled_size(160, 96, 640) == (160, 96)


def test_sparse_sampling_seeks_and_still_finds_the_right_frames(tmp_path, media):
    # 9 s with a keyframe every 15 frames: 0.25 frames/s makes the decoder seek between targets.
    path = write_video(tmp_path / "long.mp4", media.coded_frames(270, 64, 48), media.fps, gop=15)
    frames = list(iter_frames(path, fps=0.25))
    assert [f.index for f in frames] == [0, 120, 240]
    assert [media.frame_index_of(f.image) for f in frames] == [0, 120 % 64, 240 % 64]
    late = list(iter_frames(path, fps=1, start_s=6.0, end_s=8.0))
    assert [f.index for f in late] == [180, 210]
    assert [media.frame_index_of(f.image) for f in late] == [180 % 64, 210 % 64]
    picked = list(decode_frames_at(path, [7.0, 1.0]))
    assert [f.index for f in picked] == [30, 210]


def test_variable_frame_rate_is_flagged_and_sampled_by_timestamp(tmp_path, media):
    path = tmp_path / "vfr.mp4"
    # 30 fps for 1 s, a 1.5 s gap with no frame, then 30 fps again for 1 s.
    times_ms = [round(1000 * i / 30) for i in range(30)] + [2500 + round(1000 * i / 30) for i in range(30)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for n, (ms, image) in enumerate(zip(times_ms, media.coded_frames(60, 64, 48), strict=True)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            out.mux(stream.encode(frame))
            assert n < 60
        out.mux(stream.encode(None))
    info = probe(path)
    assert info.variable_frame_rate
    frames = list(iter_frames(path, fps=2))
    times = [f.time_s for f in frames]
    assert times == sorted(set(times))  # one frame never serves two requested times
    # 0, 0.5 s from the first burst; 1.0-2.0 s fall in the gap and get the first frame after it, once.
    assert [media.frame_index_of(f.image) for f in frames[:3]] == [0, 15, 30]
    assert times[2] == pytest.approx(2.5, abs=0.01)


def test_read_audio_resamples_and_downmixes(tiny_video):
    audio = read_audio_track(tiny_video, 8000)
    assert audio.dtype == np.float32 and audio.shape == (2, 24000)
    spectrum = np.abs(np.fft.rfft(audio[0, 4000:20000]))
    assert np.fft.rfftfreq(16000, 1 / 8000)[spectrum.argmax()] == pytest.approx(440, abs=1)
    assert np.abs(audio).max() == pytest.approx(0.3, abs=0.03)
    assert read_audio_track(tiny_video, 22050).shape == (2, round(3.0 * 22050))


@pytest.mark.parametrize("layout, channels", [("5.1", 6), ("3.0", 3)])
def test_multichannel_audio_keeps_every_channel(tiny_video, pcm_video, media, tmp_path, layout, channels):
    # 5.1 in Matroska: reading used to ask FFmpeg for stereo and refuse ("1 or 2 channels")
    audio = np.zeros((channels, media.sample_rate), np.float32)
    audio[-1] = media.sine(440, 1.0, channels=1)[0]
    path = pcm_video(tiny_video, audio, media.sample_rate, tmp_path / "surround.mkv", layout)
    back = read_audio_track(path, media.sample_rate)
    assert back.shape == (channels, media.sample_rate)
    np.testing.assert_allclose(back[-1], audio[-1], atol=1e-6)  # no channel dropped by a remix


def test_mux_audio_tracks_copies_the_picture_and_adds_one_titled_track_per_stem(tiny_video, tmp_path, media):
    out = tmp_path / "stems.mp4"
    tracks = {"vn": media.sine(660, 3.0, channels=1), "vc": media.sine(220, 3.0, channels=2)}
    assert mux_audio_tracks(tiny_video, tracks, media.sample_rate, out) == out
    assert [p.name for p in tmp_path.iterdir()] == ["stems.mp4"]  # no temporary left behind
    with av.open(str(tiny_video)) as src, av.open(str(out)) as dst:
        assert len(dst.streams.video) == 1 and len(dst.streams.audio) == 3
        titles = [s.metadata.get("handler_name") for s in dst.streams.audio[1:]]
        assert titles == ["vn", "vc"]
        assert [s.channels for s in dst.streams.audio[1:]] == [1, 2]
        src_packets = [bytes(p) for p in src.demux(src.streams.video[0]) if p.size]
        dst_packets = [bytes(p) for p in dst.demux(dst.streams.video[0]) if p.size]
        assert src_packets == dst_packets  # stream copy: the picture is bit-identical
    with av.open(str(out)) as dst:
        vc = np.concatenate([f.to_ndarray() for f in dst.decode(dst.streams.audio[2])], axis=1)
    assert vc.shape[0] == 2 and vc.shape[1] == pytest.approx(3.0 * media.sample_rate, abs=1024)
    spectrum = np.abs(np.fft.rfft(vc[0, 8000:40000]))
    assert np.fft.rfftfreq(32000, 1 / media.sample_rate)[spectrum.argmax()] == pytest.approx(220, abs=1)
    without = mux_audio_tracks(
        tiny_video, tracks, media.sample_rate, tmp_path / "only.mkv", keep_original_audio=False
    )
    assert probe(without).n_audio_streams == 2
    picture = copy_picture(out, tmp_path / "picture.mp4")
    with av.open(str(tiny_video)) as src, av.open(str(picture)) as dst:
        assert len(dst.streams.video) == 1 and len(dst.streams.audio) == 0
        src_packets = [bytes(p) for p in src.demux(src.streams.video[0]) if p.size]
        assert [bytes(p) for p in dst.demux(dst.streams.video[0]) if p.size] == src_packets


def test_missing_and_unreadable_files_name_the_file(tmp_path):
    missing = tmp_path / "nothere.mp4"
    with pytest.raises(VideoError, match="nothere.mp4: no such file"):
        probe(missing)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="garbage.mp4: not a readable video file"):
        list(iter_frames(garbage, fps=1))


def test_truncated_file_is_an_error_naming_the_file(tiny_video, tmp_path):
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(tiny_video.read_bytes()[: tiny_video.stat().st_size // 2])
    with pytest.raises(VideoError, match="truncated.mp4"):
        probe(truncated)


def test_a_file_cut_short_after_its_header_warns_naming_the_file(tmp_path, media):
    # With the index at the front (faststart) a cut file still opens: the picture just stops early.
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=media.fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for image in media.coded_frames(150, 64, 48):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 4 // 5])
    assert probe(cut).duration_s == pytest.approx(5.0, abs=0.01)
    with pytest.warns(UserWarning, match=r"cut\.mp4: the picture ends at .* but the file says 5\.00 s"):
        frames = list(iter_frames(cut, fps=2))
    assert 0 < len(frames) < 10
    assert [media.frame_index_of(f.image) for f in frames] == [f.index % 64 for f in frames]


def test_missing_streams_are_errors_naming_the_file(tmp_path, media):
    audio_only = tmp_path / "audio_only.m4a"
    with av.open(str(audio_only), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=media.sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(media.sine(440, 1.0, channels=1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = media.sample_rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(VideoError, match="audio_only.m4a: has no video stream"):
        probe(audio_only)
    assert read_audio_track(audio_only, media.sample_rate).shape == (1, media.sample_rate)
    silent = write_video(tmp_path / "silent.mp4", media.coded_frames(10, 64, 48), media.fps)
    assert not probe(silent).has_audio
    with pytest.raises(VideoError, match="silent.mp4: has no audio stream"):
        read_audio_track(silent, media.sample_rate)
    with pytest.raises(VideoError, match="audio_only.m4a: has no video stream"):
        mux_audio_tracks(audio_only, {"vn": media.sine(440, 1.0)}, media.sample_rate, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_prefetch_keeps_order_reraises_producer_errors_and_stops_when_abandoned():
    import threading

    from vcsep.vision.video import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise VideoError("clip.mp4: decoding failed after 0.03 s")

    with pytest.raises(VideoError, match="clip.mp4: decoding failed"):
        list(prefetch(failing(), depth=2))
    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    before = threading.active_count()
    stream = prefetch(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    assert threading.active_count() == before and len(produced) <= 5 + 2 + 2
