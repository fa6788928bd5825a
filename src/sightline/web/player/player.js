// sightline test player: POST /api/v1/channels/{id}/live, then fMP4 over WebSocket into MSE.
// No build step, no dependencies. The tile always says what is happening: never a black box.
// Page parameters: ?channel=<20-digit id> to start at once; &token=<stream token> to skip login.
"use strict";

const LIVE_EDGE_MAX_S = 2.5; // further behind than this: jump to the live edge
const KEEP_BEHIND_S = 20; // buffer kept behind the playhead; older media is removed
const TOKEN_KEY = "sightline.access_token";
// Most browsers cannot play H.265 in MSE: they ask for the server's H.264 variant instead
// (H.264 cameras pass through it untouched, H.265 ones are transcoded once per channel).
const HEVC_MIME = 'video/mp4; codecs="hvc1.1.6.L93.B0"';
const CODEC_QUERY = MediaSource.isTypeSupported(HEVC_MIME) ? "" : "&codec=h264";

const $ = (id) => document.getElementById(id);
const video = $("video");
const statusBox = $("status");
const params = new URLSearchParams(location.search);

let session = null; // the running view

function say(text, kind = "") {
  statusBox.textContent = text;
  statusBox.className = kind;
}

function loginToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function login(event) {
  event.preventDefault();
  say("logging in…");
  const resp = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    say(`login failed: ${body.detail || resp.status}`, "error");
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  $("login").hidden = true;
  play();
}

async function playUrl(channel) {
  const streamToken = params.get("token");
  if (streamToken) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/api/v1/media/live/${channel}.mp4?token=${encodeURIComponent(streamToken)}${CODEC_QUERY}`;
  }
  const bearer = loginToken();
  if (!bearer) {
    $("login").hidden = false;
    say("log in to play");
    return null;
  }
  say("asking for the stream…");
  const resp = await fetch(`/api/v1/channels/${channel}/live?${CODEC_QUERY.slice(1)}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${bearer}` },
  });
  const body = await resp.json().catch(() => ({}));
  if (resp.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("login").hidden = false;
    say(`log in again: ${body.detail || "session expired"}`, "error");
    return null;
  }
  if (!resp.ok) {
    say(`cannot play: ${body.detail || resp.status}`, "error");
    return null;
  }
  return body.urls.ws;
}

class LiveSession {
  constructor(url) {
    this.queue = [];
    this.mime = null;
    this.sourceBuffer = null;
    this.closed = false;
    this.failed = false;
    this.mediaSource = new MediaSource();
    this.opened = new Promise((resolve) => {
      this.mediaSource.addEventListener("sourceopen", resolve, { once: true });
    });
    video.src = URL.createObjectURL(this.mediaSource);
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = (event) => this.onMessage(event);
    this.ws.onclose = (event) => this.onClose(event);
    this.ws.onerror = () => say("connection error", "error");
    say("connecting…");
  }

  onMessage(event) {
    if (this.closed) return;
    if (typeof event.data !== "string") {
      this.queue.push(event.data);
      this.pump();
      return;
    }
    const msg = JSON.parse(event.data);
    if (msg.type === "status") {
      const text = { connecting: "calling the camera…", waiting: "waiting for video…", playing: "playing" };
      say(text[msg.state] || msg.state, msg.state === "playing" ? "playing" : "");
    } else if (msg.type === "init") {
      this.setType(msg.mime_type);
    } else if (msg.type === "error") {
      this.failed = true;
      say(`${msg.detail} (${msg.status})`, "error");
    }
  }

  async setType(mime) {
    if (!MediaSource.isTypeSupported(mime)) {
      this.failed = true;
      say(`this browser cannot play ${mime}`, "error");
      this.stop();
      return;
    }
    await this.opened;
    if (this.sourceBuffer === null) {
      this.sourceBuffer = this.mediaSource.addSourceBuffer(mime);
      this.sourceBuffer.mode = "segments";
      this.sourceBuffer.addEventListener("updateend", () => this.afterAppend());
    } else if (mime !== this.mime && this.sourceBuffer.changeType) {
      this.sourceBuffer.changeType(mime); // the camera changed codec or resolution
    }
    this.mime = mime;
    showSound(mime.includes("mp4a."));
    this.pump();
  }

  pump() {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || this.queue.length === 0 || this.mediaSource.readyState !== "open") return;
    try {
      sb.appendBuffer(this.queue[0]);
      this.queue.shift();
    } catch (err) {
      if (err.name === "QuotaExceededError") {
        this.trim(1); // make room, then try the same segment again after updateend
      } else {
        this.failed = true;
        say(`playback error: ${err.message}`, "error");
        this.stop();
      }
    }
  }

  trim(keepBehindS) {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || sb.buffered.length === 0) return;
    const start = sb.buffered.start(0);
    const until = video.currentTime - keepBehindS;
    if (until > start + 0.5) sb.remove(start, until);
  }

  afterAppend() {
    const buffered = this.sourceBuffer.buffered;
    if (buffered.length > 0) {
      const end = buffered.end(buffered.length - 1);
      if (end - video.currentTime > LIVE_EDGE_MAX_S || video.currentTime < buffered.start(0)) {
        video.currentTime = Math.max(buffered.start(buffered.length - 1), end - 0.3);
      }
      if (video.paused) video.play().catch(() => say("press play (autoplay blocked)"));
    }
    if (this.queue.length > 0) {
      this.pump();
    } else if (buffered.length > 0 && video.currentTime - buffered.start(0) > 2 * KEEP_BEHIND_S) {
      this.trim(KEEP_BEHIND_S);
    }
  }

  onClose(event) {
    if (this.closed) return;
    this.closed = true;
    if (!this.failed) {
      const why = event.reason || (event.code === 1006 ? "connection lost" : `code ${event.code}`);
      say(`stream stopped: ${why}`, "error");
    }
  }

  stop() {
    this.closed = true;
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "stopped by the viewer");
  }
}

async function play() {
  const channel = $("channel").value.trim();
  if (!/^[0-9]{20}$/.test(channel)) {
    say("enter a 20-digit channel ID", "error");
    return;
  }
  stop();
  const url = await playUrl(channel);
  if (url) session = new LiveSession(url);
}

function stop() {
  if (session !== null) {
    session.stop();
    session = null;
    showSound(false);
    say("stopped");
  }
}

// The video starts muted (browsers only autoplay muted media); a stream with audio shows a
// button to hear it. Clicking it is the user gesture browsers want before playing sound.
function showSound(hasAudio) {
  $("sound").hidden = !hasAudio;
  $("sound").textContent = video.muted ? "Sound on" : "Sound off";
}

function toggleSound() {
  video.muted = !video.muted;
  showSound(true);
}

video.addEventListener("waiting", () => session && !session.closed && say("buffering…"));
video.addEventListener("playing", () => session && !session.failed && say("playing", "playing"));
$("login").addEventListener("submit", login);
$("play").addEventListener("click", play);
$("stop").addEventListener("click", stop);
$("sound").addEventListener("click", toggleSound);
$("channel").value = params.get("channel") || "";
if ($("channel").value) play();
