"""The separation page's mixer, driven in Debian's headless Chromium through Playwright.

The page is written by :func:`vcsep.evaluation.report.separation_page` from tiny tracks built here
(two tones and their sum, a 4 s video), served from its folder on 127.0.0.1 and loaded once.
"""

from __future__ import annotations

import functools
import http.server
import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vcsep.evaluation.report import separation_page
from vcsep.media import write_video

CHROMIUM = Path("/usr/bin/chromium")
RATE, SECONDS = 16000, 4.0
TONES = {"vn": 660.0, "vc": 220.0}  # Hz: each stem is one tone, told apart by the master analyser


@pytest.fixture
def page(tmp_path) -> Path:
    """A page with the mixture (the sum of the stems), two stems and a video of SECONDS."""
    t = np.arange(int(RATE * SECONDS)) / RATE
    stems = {code: 0.25 * np.sin(2 * np.pi * f * t)[None] for code, f in TONES.items()}
    tracks = {"mixture": ("original mix", sum(stems.values()))} | {c: (c, a) for c, a in stems.items()}
    files = {}
    for key, (_, audio) in tracks.items():
        files[key] = tmp_path / f"{key}.wav"
        sf.write(files[key], audio.T, RATE, subtype="PCM_16")
    frames = [np.full((64, 64, 3), 8 * (i % 32), np.uint8) for i in range(int(25 * SECONDS))]
    video = write_video(tmp_path / "clip.stems.mp4", frames, 25)
    pages = {key: (heading, files[key]) for key, (heading, _) in tracks.items()}
    return separation_page(tmp_path, "mixer test", pages, ["<p>summary</p>"], video)


@pytest.fixture
def served(page):
    """The page's folder on an HTTP server at 127.0.0.1 (any free port); yields the page's address."""
    handler = functools.partial(_QuietHandler, directory=str(page.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/{page.name}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Python's static file server, quiet (the test reads failed requests from the browser), and
    with byte ranges, as every real web server has them: a browser seeks a video with them."""

    def log_message(self, *args) -> None:
        pass

    def send_head(self):
        asked = self.headers.get("Range", "")
        if not asked.startswith("bytes="):
            return super().send_head()
        data = Path(self.translate_path(self.path)).read_bytes()
        first, _, last = asked.removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(self.path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return io.BytesIO(data[start : end + 1])


# The master analyser's level (dB) at each tone, and the picture's and the stems' positions (s).
LEVELS = """(tones) => {
  const m = window.vcsepMixer, spectrum = new Float32Array(m.master.frequencyBinCount);
  m.master.getFloatFrequencyData(spectrum);
  const level = (hz) => {
    const bin = Math.round(hz / (m.ctx.sampleRate / m.master.fftSize));
    return Math.max(...spectrum.slice(bin - 2, bin + 3));
  };
  return Object.fromEntries(Object.entries(tones).map(([code, hz]) => [code, level(hz)]));
}"""
SYNC_S = 0.02  # s: the picture and the stems of a playing mixer may be this far apart
POSITIONS = """() => ({video: document.getElementById('picture').currentTime,
  stems: window.vcsepMixer.time(), block: 128 / window.vcsepMixer.ctx.sampleRate})"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_the_mixer_plays_the_stems_in_sync_with_the_video(served):
    from playwright.sync_api import sync_playwright

    problems, addresses = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox"],
        )
        try:
            tab = browser.new_page()
            tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
            tab.on("request", lambda r: addresses.append(r.url))
            tab.goto(served)
            tab.evaluate("() => window.vcsepMixer.ready")
            assert tab.evaluate("() => window.vcsepMixer.duration") == pytest.approx(SECONDS, abs=0.01)
            assert tab.locator("#mixer-status").text_content() == "ready"

            tab.click('button.solo[data-stem="vn"]')
            tab.click("#play")
            tab.wait_for_timeout(500)
            gains = tab.evaluate("() => window.vcsepMixer.gains()")
            assert gains["vn"] == pytest.approx(1, abs=1e-3) and abs(gains["vc"]) < 1e-3
            assert abs(gains["mixture"]) < 1e-3
            levels = tab.evaluate(LEVELS, TONES)
            assert levels["vn"] > -60 and levels["vc"] < levels["vn"] - 60  # only the violin is heard

            tab.click('button.minus[data-stem="vn"]')  # the mixture less the violin: the cello alone
            tab.wait_for_timeout(400)
            levels = tab.evaluate(LEVELS, TONES)
            assert levels["vc"] > -60 and levels["vn"] < levels["vc"] - 60
            assert tab.get_attribute('button.minus[data-stem="vn"]', "aria-pressed") == "true"
            assert tab.get_attribute('button.solo[data-stem="vn"]', "aria-pressed") == "false"

            tab.evaluate("() => window.vcsepMixer.seek(2.5)")  # while playing
            tab.wait_for_timeout(600)
            for _ in range(5):
                at = tab.evaluate(POSITIONS)
                assert 2.5 < at["stems"] < 3.9
                # a video's currentTime moves once per display frame (16.7 ms at 60 Hz), and on a
                # loaded machine it was read 16 ms off: 20 ms is still far under what people notice
                # (ITU-R BT.1359: sound 45 ms ahead of the picture)
                assert abs(at["video"] - at["stems"]) <= SYNC_S, at
                tab.wait_for_timeout(50)
            tab.click("#play")  # pause
            tab.evaluate("() => window.vcsepMixer.seek(1.25)")
            at = tab.evaluate(POSITIONS)
            assert at["stems"] == 1.25 and abs(at["video"] - 1.25) <= at["block"]
        finally:
            browser.close()
    assert problems == []
    folder = served.rsplit("/", 1)[0] + "/"
    assert [a for a in addresses if not a.startswith(folder)] == []  # nothing from outside the folder
