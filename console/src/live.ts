// fMP4 over WebSocket into Media Source Extensions: the logic of the /player/ test page
// (src/sightline/web/player/player.js) as a typed module a tile can own several of.
//
// The server sends JSON text frames ({"type":"status"|"init"|"error", ...}) and binary fMP4
// fragments. The session keeps the playhead near the live edge and trims old media so a tile
// can run for hours.

const LIVE_EDGE_MAX_S = 2.5; // further behind than this: jump to the live edge
const KEEP_BEHIND_S = 20; // buffer kept behind the playhead; older media is removed

export type TileState = "idle" | "connecting" | "waiting" | "playing" | "error" | "stopped";

export interface StateChange {
  state: TileState;
  /** Why, for errors: the API's own sentence (and status) when it gave one. */
  detail?: string;
}

type Listener = (change: StateChange) => void;

interface ServerMessage {
  type: string;
  state?: string;
  mime_type?: string;
  detail?: string;
  status?: number;
}

export class LiveSession {
  private readonly queue: ArrayBuffer[] = [];
  private readonly mediaSource = new MediaSource();
  private readonly opened: Promise<void>;
  private readonly ws: WebSocket;
  private readonly objectUrl: string;
  private sourceBuffer: SourceBuffer | null = null;
  private mime: string | null = null;
  private closed = false;
  private failed = false;
  /** Called with whether the stream carries audio (an AAC track), at each init segment. */
  onAudio: ((hasAudio: boolean) => void) | null = null;
  private readonly onPlaying = (): void => {
    if (!this.failed && !this.closed) this.emit({ state: "playing" });
  };

  constructor(
    url: string,
    private readonly video: HTMLVideoElement,
    private readonly listener: Listener,
  ) {
    this.opened = new Promise((resolve) => {
      this.mediaSource.addEventListener("sourceopen", () => resolve(), { once: true });
    });
    this.objectUrl = URL.createObjectURL(this.mediaSource);
    video.src = this.objectUrl;
    video.addEventListener("playing", this.onPlaying);
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = (event) => this.onMessage(event);
    this.ws.onclose = (event) => this.onClose(event);
    this.emit({ state: "connecting" });
  }

  private emit(change: StateChange): void {
    this.listener(change);
  }

  private fail(detail: string): void {
    this.failed = true;
    this.emit({ state: "error", detail });
  }

  private onMessage(event: MessageEvent): void {
    if (this.closed) return;
    if (typeof event.data !== "string") {
      this.queue.push(event.data as ArrayBuffer);
      this.pump();
      return;
    }
    let msg: ServerMessage;
    try {
      msg = JSON.parse(event.data) as ServerMessage;
    } catch {
      return; // not ours to understand: ignore rather than break the tile
    }
    if (msg.type === "status") {
      if (msg.state === "playing") this.emit({ state: "playing" });
      else this.emit({ state: msg.state === "waiting" ? "waiting" : "connecting" });
    } else if (msg.type === "init" && msg.mime_type) {
      void this.setType(msg.mime_type);
    } else if (msg.type === "error") {
      this.fail(`${msg.detail ?? "stream error"}${msg.status ? ` (${msg.status})` : ""}`);
    }
  }

  private async setType(mime: string): Promise<void> {
    if (!MediaSource.isTypeSupported(mime)) {
      this.fail(`this browser cannot play ${mime}`);
      this.stop();
      return;
    }
    await this.opened;
    if (this.closed) return;
    if (this.sourceBuffer === null) {
      this.sourceBuffer = this.mediaSource.addSourceBuffer(mime);
      this.sourceBuffer.mode = "segments";
      this.sourceBuffer.addEventListener("updateend", () => this.afterAppend());
    } else if (mime !== this.mime && this.sourceBuffer.changeType) {
      this.sourceBuffer.changeType(mime); // the camera changed codec or resolution
    }
    this.mime = mime;
    this.onAudio?.(mime.includes("mp4a."));
    this.pump();
  }

  private pump(): void {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || this.queue.length === 0 || this.mediaSource.readyState !== "open") {
      return;
    }
    try {
      sb.appendBuffer(this.queue[0]);
      this.queue.shift();
    } catch (err) {
      if ((err as DOMException).name === "QuotaExceededError") {
        this.trim(1); // make room, then try the same fragment again after updateend
      } else {
        this.fail(`playback error: ${(err as Error).message}`);
        this.stop();
      }
    }
  }

  private trim(keepBehindS: number): void {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || sb.buffered.length === 0) return;
    const start = sb.buffered.start(0);
    const until = this.video.currentTime - keepBehindS;
    if (until > start + 0.5) sb.remove(start, until);
  }

  private afterAppend(): void {
    if (this.closed || !this.sourceBuffer) return;
    const video = this.video;
    const buffered = this.sourceBuffer.buffered;
    if (buffered.length > 0) {
      const end = buffered.end(buffered.length - 1);
      if (end - video.currentTime > LIVE_EDGE_MAX_S || video.currentTime < buffered.start(0)) {
        video.currentTime = Math.max(buffered.start(buffered.length - 1), end - 0.3);
      }
      if (video.paused && !this.userPaused) {
        video.play().catch(() => this.emit({ state: "waiting", detail: "autoplay blocked" }));
      }
    }
    if (this.queue.length > 0) {
      this.pump();
    } else if (buffered.length > 0 && video.currentTime - buffered.start(0) > 2 * KEEP_BEHIND_S) {
      this.trim(KEEP_BEHIND_S);
    }
  }

  private onClose(event: CloseEvent): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.failed) {
      const why = event.reason || (event.code === 1006 ? "connection lost" : `code ${event.code}`);
      this.fail(`stream stopped: ${why}`);
    }
  }

  /** Set by playback pages: a paused recording must not be restarted by the next fragment. */
  userPaused = false;

  /** Close the stream and release the video element. */
  stop(): void {
    const wasOpen = !this.closed;
    this.closed = true;
    this.video.removeEventListener("playing", this.onPlaying);
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "stopped by the viewer");
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    URL.revokeObjectURL(this.objectUrl);
    if (wasOpen && !this.failed) this.emit({ state: "stopped" });
  }
}

/** Draw the video's current frame on a canvas and save it as a PNG. */
export function saveSnapshot(video: HTMLVideoElement, name: string): boolean {
  if (video.videoWidth === 0 || video.videoHeight === 0) return false;
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d");
  if (!ctx) return false;
  ctx.drawImage(video, 0, 0);
  const link = document.createElement("a");
  link.href = canvas.toDataURL("image/png");
  link.download = `${name}.png`;
  link.click();
  return true;
}

const HEVC_MIME = 'video/mp4; codecs="hvc1.1.6.L93.B0"';

/** `?codec=h264` when this browser cannot play H.265: the server then transcodes H.265 cameras. */
export function codecQuery(): string {
  return MediaSource.isTypeSupported(HEVC_MIME) ? "" : "?codec=h264";
}
