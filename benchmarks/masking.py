"""What a masked view costs: decode → privacy mask → H.264 encode, per stream, vs FFmpeg.

For each size (720p, 1080p) the benchmark makes ``--seconds`` of camera-like H.264 (a textured
scene with sensor noise and moving objects, 25 fps, a key frame every 2 s, at ``--bitrate``)
and runs over it, single-threaded:

1. **decode only** (PyAV): the floor every masked stream pays;
2. **decode + mask**: the picture copied and the polygon blacked out (``sightline.analytics``);
3. **sightline masked encode**: ``MaskingTranscoder`` as a masked view runs it (decode, mask,
   libx264 ultrafast/zerolatency, GOP 1 s, crf 23);
4. **FFmpeg** doing the same with its own tools: the ``ffmpeg`` command line with a
   ``drawbox`` filter filling the same quarter black, encoding with the same x264 settings.

CPU seconds (user + system, this process or the ffmpeg child) per second of video are the cost
of one masked stream; their inverse is how many masked streams one core sustains in real time.
The mask is the top-left quarter (a rectangle, so ``drawbox`` draws exactly what we do); a
polygon mask costs the same per frame (its rasterisation is made once per frame size).

Run: ``.venv/bin/python benchmarks/masking.py`` (``--help`` for the options). Needs ``ffmpeg``
(Debian package ``ffmpeg``; ``make bench-deps`` installs it); without it that row is skipped.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sightline.analytics.masked_video import MaskingTranscoder
from sightline.analytics.masking import PrivacyMask, validate_polygons
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.transcode import TranscodeOptions

FPS = 25
QUARTER = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


@dataclass(frozen=True)
class Row:
    """One measured way of producing the masked stream."""

    name: str
    cpu_s: float
    wall_s: float
    frames: int
    out_bytes: int | None = None

    def per_video_s(self, video_s: float) -> float:
        """CPU seconds per second of video."""
        return self.cpu_s / video_s


def _scene(width: int, height: int, frames: int) -> list[np.ndarray]:
    """Grey frames of a textured scene with moving blocks and noise (deterministic)."""
    rng = np.random.default_rng(8)
    small = rng.integers(40, 200, (height // 16 + 1, width // 16 + 1)).astype(np.uint8)
    background = np.kron(small, np.ones((16, 16), np.uint8))[:height, :width]
    pictures = []
    for i in range(frames):
        picture = background.copy()
        for k in range(3):  # three "cars" crossing at different speeds
            x = (i * (6 + 4 * k) + k * width // 3) % (width - 120)
            y = height // 4 + k * height // 5
            picture[y : y + 60, x : x + 120] = 230 - 50 * k
        noise = rng.integers(-6, 7, picture.shape, dtype=np.int16)
        pictures.append(np.clip(picture + noise, 0, 255).astype(np.uint8))
    return pictures


def make_clip(width: int, height: int, seconds: float, bitrate: int) -> list[AccessUnit]:
    """``seconds`` of 25 fps H.264 of the scene, as access units with 90 kHz times."""
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base, ctx.framerate = Fraction(1, FPS), Fraction(FPS)
    ctx.gop_size, ctx.bit_rate = 2 * FPS, bitrate
    ctx.options = {"preset": "veryfast", "bf": "0"}
    units: list[AccessUnit] = []
    step = 90000 // FPS
    pictures = _scene(width, height, round(seconds * FPS))
    for i, luma in enumerate([*pictures, None]):
        frame = None
        if luma is not None:
            frame = av.VideoFrame.from_ndarray(luma, format="gray").reformat(format="yuv420p")
            frame.pts = i
        for p in ctx.encode(frame):
            assert p.pts is not None
            units.append(
                AccessUnit(Codec.H264, 0xE0, p.pts * step, p.pts * step, bytes(p), p.is_keyframe)
            )
    return units


def _timed(name: str, frames: int, run: Callable[[], int | None]) -> Row:
    cpu, wall = time.process_time(), time.perf_counter()
    out_bytes = run()
    return Row(name, time.process_time() - cpu, time.perf_counter() - wall, frames, out_bytes)


def decode_only(units: list[AccessUnit]) -> None:
    """Decode every unit (one thread)."""
    ctx = av.CodecContext.create("h264", "r")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.thread_count = 1
    for unit in units:
        ctx.decode(av.Packet(unit.data))


def decode_and_mask(units: list[AccessUnit], mask: PrivacyMask) -> None:
    """Decode every unit and produce the masked copy, without encoding it."""
    transcoder = MaskingTranscoder(mask)
    ctx = av.CodecContext.create("h264", "r")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.thread_count = 1
    for unit in units:
        for frame in ctx.decode(av.Packet(unit.data)):
            transcoder.masked(frame)


def masked_encode(units: list[AccessUnit], mask: PrivacyMask) -> int:
    """The masked view's whole work; the bytes of H.264 out."""
    transcoder = MaskingTranscoder(mask, TranscodeOptions(gop_s=1.0, threads=1))
    out = sum(len(o.data) for unit in units for o in transcoder.push(unit))
    return out + sum(len(o.data) for o in transcoder.flush())


def ffmpeg_row(ffmpeg: str, units: list[AccessUnit], workdir: Path) -> Row:
    """The ffmpeg CLI: decode, drawbox the top-left quarter black, x264 with our settings."""
    source = workdir / "in.h264"
    source.write_bytes(b"".join(u.data for u in units))
    command = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-threads", "1",
        "-f", "h264", "-r", str(FPS), "-i", str(source),
        "-vf", "drawbox=x=0:y=0:w=iw/2:h=ih/2:color=black:t=fill",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-crf", "23",
        "-g", str(FPS), "-bf", "0", "-threads", "1", "-f", "h264", "-y", str(workdir / "out.h264"),
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out_bytes = (workdir / "out.h264").stat().st_size
    return Row("FFmpeg CLI (drawbox, same x264 settings)", cpu, wall, len(units), out_bytes)


def check_masked(units: list[AccessUnit], mask: PrivacyMask, width: int, height: int) -> float:
    """Mean grey level (0..255) of the masked quarter in the last masked picture: ~0."""
    transcoder = MaskingTranscoder(mask)
    out = [o for unit in units[: 2 * FPS] for o in transcoder.push(unit)] + transcoder.flush()
    ctx = av.CodecContext.create("h264", "r")
    assert isinstance(ctx, av.VideoCodecContext)
    last = None
    for unit in out:
        for frame in ctx.decode(av.Packet(unit.data)):
            last = frame.to_ndarray(format="gray")
    assert last is not None
    return float(last[: height // 2, : width // 2].mean())


def bench_size(label: str, args: argparse.Namespace, workdir: Path) -> None:
    """Measure every row for one frame size and print them."""
    width, height = SIZES[label]
    bitrate = args.bitrate_720 if label == "720p" else args.bitrate_1080
    units = make_clip(width, height, args.seconds, bitrate)
    video_s = len(units) / FPS
    mask = PrivacyMask(validate_polygons([QUARTER]))
    start = time.perf_counter()
    frame_mask = mask.for_size(width, height)
    raster_ms = (time.perf_counter() - start) * 1000
    y = np.full((height, width), 100, np.uint8)
    u = np.full((height // 2, width // 2), 100, np.uint8)
    v = u.copy()
    start = time.perf_counter()
    for _ in range(200):
        frame_mask.apply(y, u, v)
    apply_ms = (time.perf_counter() - start) / 200 * 1000
    rows = [
        _timed("decode only (PyAV)", len(units), lambda: decode_only(units)),
        _timed("decode + copy + mask", len(units), lambda: decode_and_mask(units, mask)),
        _timed("sightline masked encode", len(units), lambda: masked_encode(units, mask)),
    ]
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is not None:
        full = ffmpeg_row(ffmpeg, units, workdir)
        start_up = ffmpeg_row(ffmpeg, units[:1], workdir)  # one frame: the fixed cost
        rows.append(full)
        rows.append(
            Row("  the same less FFmpeg's start-up", full.cpu_s - start_up.cpu_s, 0, len(units))
        )
    masked_luma = check_masked(units, mask, width, height)
    print(f"\n{label} ({width}x{height}), {video_s:.0f} s at {FPS} fps, {bitrate // 1000} kbit/s")
    print(f"  mask: rasterised once in {raster_ms:.1f} ms; applied in {apply_ms:.2f} ms/frame")
    print(f"  masked quarter decodes to mean grey {masked_luma:.1f} (full range: 0 is black)")
    print(f"  {'':42} {'CPU s/video s':>13} {'fps':>7} {'streams/core':>13} {'out kbit/s':>10}")
    for row in rows:
        per = row.per_video_s(video_s)
        fps = row.frames / row.cpu_s if row.cpu_s else float("inf")
        out = "-" if row.out_bytes is None else f"{row.out_bytes * 8 / video_s / 1000:.0f}"
        print(f"  {row.name:42} {per:13.3f} {fps:7.0f} {1 / per:13.1f} {out:>10}")
    if ffmpeg is None:
        print("  (ffmpeg not found: the FFmpeg row is skipped; apt-get install ffmpeg)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for the sizes asked for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="video length per size")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["720p", "1080p"])
    parser.add_argument("--bitrate-720", type=int, default=2_000_000, help="source bit/s")
    parser.add_argument("--bitrate-1080", type=int, default=4_000_000, help="source bit/s")
    args = parser.parse_args(argv)
    print(f"masking benchmark: Python {sys.version.split()[0]}, PyAV {av.__version__}")
    with tempfile.TemporaryDirectory(prefix="sightline-mask-bench-") as tmp:
        for label in args.sizes:
            bench_size(label, args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
