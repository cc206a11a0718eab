/* The mixer of a vcsep separation page, written for vcsep (no third-party code, nothing fetched
from outside the page's folder).

Every track (the original mixture and one stem per instrument) is decoded into an AudioBuffer and
played by its own AudioBufferSourceNode; all of them start at one context time from one offset, so
the stems stay sample-aligned with each other. Each track goes through a GainNode (its slider,
mute, solo, or a "minus one") into one AnalyserNode, the master, and out. The picture (the video,
muted, or a still) follows the audio clock.

The page's JSON (script#vcsep-mixer) gives {"tracks": [{"key": "mixture" | code, "data":
"<key>.audio.js"}]}; each data script sets window.vcsepAudio[key] to the track's sound file (FLAC)
in base64. Loading the audio as scripts (not with fetch) lets the page work when opened straight
from its folder (file://), where fetch is refused.

window.vcsepMixer (for the page's test, and the curious): ready (a Promise, resolved when every
track is decoded), play(), pause(), seek(seconds) (each a Promise, resolved when done), time()
(the position heard now, s), duration (s), gains() (key -> the gain applied now), ctx, master. */
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("vcsep-mixer").textContent);
  const LEAD = 0.05; // s between scheduling the sources and their first sample: time to set them all up
  const RESYNC = 0.25; // s: a picture further off than this jumps to the audio; nearer, it is steered
  const STEER = 4; // playback-rate change per second of picture error (s/s per s)
  const FADE = 0.01; // s: gain changes glide with this time constant instead of clicking

  const ctx = new AudioContext();
  const master = ctx.createAnalyser();
  master.fftSize = 8192;
  master.smoothingTimeConstant = 0; // each reading is of the sound now, not blended with earlier ones
  master.connect(ctx.destination);
  const status = document.getElementById("mixer-status");
  const playButton = document.getElementById("play");
  const seekBar = document.getElementById("seek");
  const clock = document.getElementById("clock");
  let video = document.querySelector("video#picture");

  const tracks = config.tracks.map((t) => ({ key: t.key, data: t.data, gain: ctx.createGain() }));
  tracks.forEach((t) => t.gain.connect(master));
  const state = { gain: {}, mute: new Set(["mixture"]), solo: new Set(), minus: null };
  tracks.forEach((t) => (state.gain[t.key] = 1));

  let duration = 0;
  let offset = 0; // s: the position while paused, or the position heard at context time `when`
  let when = null; // context time the sources started at; null while paused
  let sources = [];
  let queue = Promise.resolve(); // transport changes run one after the other
  let seekTarget = null;
  let dragging = false;

  function say(text) {
    status.textContent = text;
  }

  function serial(op) {
    const run = queue.then(op);
    queue = run.catch((err) => say(`error: ${err.message || err}`));
    return run;
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`${src} could not be read`));
      document.body.appendChild(script);
    });
  }

  async function decode(track) {
    await loadScript(track.data);
    const text = atob(window.vcsepAudio[track.key]);
    delete window.vcsepAudio[track.key]; // the decoded buffer is all that is kept
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    track.buffer = await ctx.decodeAudioData(bytes.buffer);
  }

  function pictureUsable() {
    return video !== null && !video.error;
  }

  // resolves once the picture's duration is known (all a seek needs), or it failed to load
  function pictureLoaded() {
    if (!video || video.readyState >= 1 || video.error) return Promise.resolve();
    return new Promise((resolve) => {
      video.addEventListener("loadedmetadata", resolve, { once: true });
      video.addEventListener("error", resolve, { once: true });
    });
  }

  function pictureAt(seconds) {
    if (!pictureUsable() || (video.currentTime === seconds && !video.seeking)) return Promise.resolve();
    return new Promise((resolve) => {
      video.addEventListener("seeked", resolve, { once: true });
      video.addEventListener("error", resolve, { once: true });
      video.currentTime = seconds;
    });
  }

  // resolves once the picture's clock moves after play() (its pipeline starts a little later), or
  // after half a second (timers, not animation frames: they also run in a hidden tab)
  function pictureMoving() {
    const from = video.currentTime;
    const since = performance.now();
    return new Promise((resolve) => {
      const look = () => {
        if (video.currentTime !== from || performance.now() - since > 500) resolve();
        else setTimeout(look, 2);
      };
      look();
    });
  }

  // the context time of the sample leaving the output now: smooth between the audio callbacks,
  // and behind currentTime by the output latency, so the picture meets what is heard (before the
  // output's first timestamp, currentTime less the latency the context reports)
  function heard() {
    const stamp = ctx.getOutputTimestamp();
    if (!stamp.performanceTime) return ctx.currentTime - ctx.outputLatency;
    return Math.min(ctx.currentTime, stamp.contextTime + (performance.now() - stamp.performanceTime) / 1000);
  }

  // the position heard now, s; in the moment between scheduling and the first sample it runs up
  // to the offset, as the picture does, so that the picture is never steered towards a standstill
  function time() {
    return when === null ? offset : Math.min(duration, Math.max(0, offset + heard() - when));
  }

  function stop() {
    const old = sources;
    sources = [];
    when = null;
    old.forEach((s) => s.stop());
    if (pictureUsable()) video.pause();
  }

  async function start() {
    await ctx.resume();
    if (offset >= duration) offset = 0;
    if (pictureUsable()) {
      await pictureAt(offset);
      video.playbackRate = 1;
      await video.play();
      await pictureMoving();
    }
    const at = ctx.currentTime + LEAD;
    // the audio joins the picture where it will be when the first sample is heard (unless the
    // picture did not get there: a server that cannot seek sends it back to the start)
    const joined = pictureUsable() ? video.currentTime + (at - heard()) : offset;
    if (Math.abs(joined - offset) < RESYNC) offset = joined;
    sources = tracks.map((t) => {
      const source = ctx.createBufferSource();
      source.buffer = t.buffer;
      source.connect(t.gain);
      source.start(at, offset);
      return source;
    });
    const first = sources[0];
    first.onended = () => {
      if (sources[0] === first) serial(() => end());
    };
    when = at;
  }

  function end() {
    if (when === null) return;
    stop();
    offset = duration;
  }

  function play() {
    return serial(() => (when === null ? start() : undefined));
  }

  function pause() {
    return serial(async () => {
      if (when === null) return;
      offset = time();
      stop();
      await pictureAt(offset);
    });
  }

  function seek(seconds) {
    seekTarget = Math.min(Math.max(0, seconds), duration);
    return serial(async () => {
      if (seekTarget === null) return; // a later seek already went there
      const target = seekTarget;
      seekTarget = null;
      const playing = when !== null;
      stop();
      offset = target;
      await pictureAt(offset);
      if (playing) await start();
    });
  }

  // gain of every track from the controls: a "minus one" (the mixture less the stem, sample by
  // sample, as vcsep separate --minus writes it) overrides the rest; else soloed tracks play
  // alone, and otherwise every unmuted one plays, each at its slider's gain
  function targetGains() {
    const gains = {};
    tracks.forEach((t) => (gains[t.key] = 0));
    if (state.minus !== null) {
      gains.mixture = 1;
      gains[state.minus] = -1;
      return gains;
    }
    const solo = state.solo.size > 0;
    tracks.forEach((t) => {
      const on = solo ? state.solo.has(t.key) : !state.mute.has(t.key);
      gains[t.key] = on ? state.gain[t.key] : 0;
    });
    return gains;
  }

  function applyGains() {
    const gains = targetGains();
    tracks.forEach((t) => t.gain.gain.setTargetAtTime(gains[t.key], ctx.currentTime, FADE));
    document.getElementById("mixer").classList.toggle("minus-one", state.minus !== null);
    document.querySelectorAll("button[data-stem]").forEach((button) => {
      const key = button.dataset.stem;
      const pressed = button.classList.contains("mute")
        ? state.mute.has(key)
        : button.classList.contains("solo")
          ? state.solo.has(key)
          : state.minus === key;
      button.setAttribute("aria-pressed", String(pressed));
    });
  }

  function control(event) {
    const element = event.target.closest("[data-stem]");
    if (!element) return;
    const key = element.dataset.stem;
    if (element.classList.contains("minus")) {
      state.minus = state.minus === key ? null : key;
      state.solo.clear(); // two ways of choosing what plays: the last one asked for holds
    } else {
      state.minus = null;
      if (element.classList.contains("gain")) state.gain[key] = Number(element.value);
      for (const [kind, keys] of [["mute", state.mute], ["solo", state.solo]]) {
        if (!element.classList.contains(kind)) continue;
        if (keys.has(key)) keys.delete(key);
        else keys.add(key);
      }
    }
    applyGains();
  }

  function clockText(seconds) {
    const minutes = Math.floor(seconds / 60);
    return `${minutes}:${(seconds - 60 * minutes).toFixed(1).padStart(4, "0")}`;
  }

  // every animation frame: steer the picture onto the audio clock, move the seek bar and cursors
  function frame() {
    const t = time();
    if (when !== null && pictureUsable() && !video.seeking) {
      const error = video.currentTime - t;
      if (Math.abs(error) > RESYNC) video.currentTime = t;
      else video.playbackRate = Math.min(1.1, Math.max(0.9, 1 - STEER * error));
    }
    if (!dragging) seekBar.value = String(t);
    clock.textContent = `${clockText(t)} / ${clockText(duration)}`;
    playButton.textContent = when === null ? "play" : "pause";
    document.querySelectorAll(".spectrogram").forEach((box) => {
      const [left, right] = [Number(box.dataset.left), Number(box.dataset.right)];
      box.querySelector(".cursor").style.left = `${100 * (left + ((right - left) * t) / duration)}%`;
    });
    requestAnimationFrame(frame);
  }

  function bind() {
    document.getElementById("mixer").addEventListener("input", control);
    document.getElementById("mixer").addEventListener("click", (event) => {
      if (event.target.matches("button[data-stem]")) control(event);
    });
    playButton.addEventListener("click", () => (when === null ? play() : pause()));
    seekBar.addEventListener("pointerdown", () => (dragging = true));
    seekBar.addEventListener("change", () => (dragging = false)); // the drag ended, wherever the pointer is
    seekBar.addEventListener("input", () => seek(Number(seekBar.value)));
    document.querySelectorAll(".spectrogram").forEach((box) => {
      box.addEventListener("click", (event) => {
        const rect = box.getBoundingClientRect();
        const x = (event.clientX - rect.left) / rect.width;
        const [left, right] = [Number(box.dataset.left), Number(box.dataset.right)];
        seek(((x - left) / (right - left)) * duration);
      });
    });
  }

  const ready = (async () => {
    say(`reading ${tracks.length} tracks…`);
    window.vcsepAudio = window.vcsepAudio || {};
    await Promise.all(tracks.map(decode));
    await pictureLoaded();
    if (video && video.error) {
      video.hidden = true; // a picture the browser cannot play: the audio plays on alone
      video = null;
      say("ready (this browser cannot play the video's picture)");
    } else {
      say("ready");
    }
    duration = Math.max(...tracks.map((t) => t.buffer.duration));
    seekBar.max = String(duration);
    applyGains();
    bind();
    document.querySelectorAll("#mixer button, #mixer input").forEach((e) => (e.disabled = false));
    requestAnimationFrame(frame);
  })();
  ready.catch((err) => say(`error: ${err.message || err}`));

  window.vcsepMixer = {
    ready,
    play,
    pause,
    seek,
    time,
    ctx,
    master,
    get duration() {
      return duration;
    },
    gains() {
      const out = {};
      tracks.forEach((t) => (out[t.key] = t.gain.gain.value));
      return out;
    },
  };
})();
