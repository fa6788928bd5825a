"""The simulator's test picture: a YUV 4:2:0 frame that says what it shows, to a person and a test.

Every frame carries, from top to bottom:

* a *time row*: 52 square cells, guard cells white-black, 44 bits of the UNIX time in ms (most
  significant first), a 4-bit check (sum of the 11 nibbles), guard cells black-white;
* a *PTZ row*: guards, pan in tenths of a degree (12 bits), tilt + 90 in tenths (11 bits), zoom
  in tenths (9 bits), a 4-bit check, guards;
* text in a 5x7 pixel font: the channel ID, the local date and time to the millisecond, and
  ``P<pan> T<tilt> Z<zoom>``;
* a background checkerboard that moves with the head as a scene would: it shifts by
  ``pan * width * zoom / 90`` pixels (a 90 degree field of view at zoom 1) and its squares grow
  with the zoom; the band :attr:`Layout.pan_band` holds vertical stripes only, so a test can
  measure the shift from one row profile;
* a band of scrolling noise at the bottom whose height sets the bit rate (x264 finds the motion,
  so it costs little CPU but real bits, as a street scene would).

Black is luma 16 and white 235 (video range). The rows are read back with :func:`read_time_ms`
and :func:`read_ptz`, which need only the luma plane and work at any size the layout supports,
so recorded video (issue 7) can be checked the same way. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from sightline.media.ps_format import Codec
from sightline.sim.errors import SimConfigError
from sightline.sim.ptz_state import PtzPosition

__all__ = [
    "Layout",
    "PtzReading",
    "TestPattern",
    "VideoCodec",
    "VideoSettings",
    "read_ptz",
    "read_time_ms",
]

Plane = npt.NDArray[np.uint8]

BLACK = 16
WHITE = 235
_TIME_BITS = 44
_CHECK_BITS = 4
_CELLS = 56  # a row spans 52 cells; two spare cells each side
_KBPS_PER_NOISE_ROW = 8.7  # measured: one 640-pixel row of scrolling noise at 25 fps
_MIN_SIZE = (320, 180)  # cells of at least 5 pixels survive compression

_FONT_ROWS = {
    "0": (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    "1": ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "2": (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    "3": ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    "4": ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    "5": ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    "6": ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    "7": ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    "8": (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    "9": (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
    ":": ("     ", "  #  ", "  #  ", "     ", "  #  ", "  #  ", "     "),
    ".": ("     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "),
    "-": ("     ", "     ", "     ", "#####", "     ", "     ", "     "),
    " ": ("     ",) * 7,
    "P": ("#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "),
    "T": ("#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "),
    "Z": ("#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"),
    # the rest of the capitals, for the loop clip's caption (sim/video_loop.py)
    "A": (" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"),
    "B": ("#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "),
    "C": (" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "),
    "D": ("#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "),
    "E": ("#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"),
    "F": ("#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "),
    "G": (" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"),
    "H": ("#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"),
    "I": (" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "J": ("  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "),
    "K": ("#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"),
    "L": ("#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"),
    "M": ("#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"),
    "N": ("#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"),
    "O": (" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "),
    "Q": (" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"),
    "R": ("#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"),
    "S": (" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "),
    "U": ("#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "),
    "V": ("#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "),
    "W": ("#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "),
    "X": ("#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"),
    "Y": ("#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "),
    "/": ("    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "),
}


def _glyph(rows: tuple[str, ...], scale: int) -> Plane:
    bits = np.array([[c == "#" for c in row] for row in rows], dtype=bool)
    big = np.kron(bits, np.ones((scale, scale), dtype=bool))
    out = np.full((big.shape[0], big.shape[1] + scale), BLACK, dtype=np.uint8)
    out[:, : big.shape[1]][big] = WHITE
    return out


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything goes in a ``width`` x ``height`` frame."""

    width: int
    height: int
    cell: int  # side of one bit cell, pixels
    scale: int  # font pixel size
    time_top: int
    ptz_top: int
    text_top: int
    pan_band: tuple[int, int]  # rows [start, stop) with vertical stripes only
    noise_band: tuple[int, int]

    @classmethod
    def for_size(cls, width: int, height: int, noise_rows: int = 0) -> Layout:
        """The layout of a frame; raises SimConfigError for sizes too small or odd."""
        if width < _MIN_SIZE[0] or height < _MIN_SIZE[1] or width % 2 or height % 2:
            raise SimConfigError(f"video size {width}x{height}: even and at least 320x180")
        cell = width // _CELLS
        scale = max(1, height // 180)
        time_top = cell
        ptz_top = time_top + 2 * cell
        text_top = ptz_top + 2 * cell
        band_top = height * 13 // 25
        pan_band = (band_top, band_top + height // 8)
        noise = min(max(0, noise_rows), height - pan_band[1] - 4) // 2 * 2
        noise_band = (height - 2 - noise, height - 2)
        return cls(width, height, cell, scale, time_top, ptz_top, text_top, pan_band, noise_band)

    @property
    def pixels_per_degree(self) -> float:
        """Background shift per degree of pan (or tilt) at zoom 1."""
        return self.width / 90.0

    def stripe_period(self, zoom: float) -> int:
        """Width of one black+white stripe pair of the background at ``zoom``."""
        return max(4, round(self.width / 16 * zoom)) // 2 * 2


# --- bit rows -----------------------------------------------------------------------------------


def _nibble_sum(value: int, bits: int) -> int:
    return sum((value >> shift) & 0xF for shift in range(0, bits, 4)) & 0xF


def _row_bits(value: int, bits: int) -> list[int]:
    word = (value << _CHECK_BITS) | _nibble_sum(value, bits)
    total = bits + _CHECK_BITS
    data = [(word >> (total - 1 - k)) & 1 for k in range(total)]
    return [1, 0, *data, 0, 1]


def _draw_row(luma: Plane, layout: Layout, top: int, cells: list[int]) -> None:
    cell = layout.cell
    left = 2 * cell
    line = np.repeat(np.where(np.array(cells, dtype=bool), WHITE, BLACK).astype(np.uint8), cell)
    luma[top : top + cell, left : left + line.size] = line


def _read_row(luma: Plane, layout: Layout, top: int, bits: int) -> int | None:
    cell = layout.cell
    count = bits + _CHECK_BITS + 4
    inner = max(1, cell // 4)
    band = luma[top + inner : top + cell - inner].astype(np.float32)
    if band.shape[0] == 0:
        return None
    means = []
    for k in range(count):
        x0 = (2 + k) * cell
        means.append(float(band[:, x0 + inner : x0 + cell - inner].mean()))
    white, black = (means[0] + means[-1]) / 2, (means[1] + means[-2]) / 2
    if white - black < 60:
        return None  # guards not found: no pattern here
    threshold = (white + black) / 2
    word = 0
    for mean in means[2:-2]:
        word = (word << 1) | int(mean > threshold)
    value, check = word >> _CHECK_BITS, word & 0xF
    return value if _nibble_sum(value, bits) == check else None


def read_time_ms(picture: npt.NDArray[np.generic]) -> int | None:
    """The UNIX time in ms written in a frame's time row; None if it cannot be read.

    ``picture`` is the luma plane (or any grey rendering, e.g. PyAV's ``to_ndarray("gray")``).
    """
    luma: Plane = np.asarray(picture, dtype=np.uint8)
    layout = Layout.for_size(luma.shape[1], luma.shape[0])
    return _read_row(luma, layout, layout.time_top, _TIME_BITS)


@dataclass(frozen=True, slots=True)
class PtzReading:
    """Pan, tilt and zoom as written in a frame (to a tenth)."""

    pan: float
    tilt: float
    zoom: float


def read_ptz(luma: Plane) -> PtzReading | None:
    """The head position written in a frame's PTZ row; None if it cannot be read."""
    layout = Layout.for_size(luma.shape[1], luma.shape[0])
    word = _read_row(luma, layout, layout.ptz_top, 32)
    if word is None:
        return None
    pan, tilt, zoom = word >> 20, (word >> 9) & 0x7FF, word & 0x1FF
    return PtzReading(pan / 10, (tilt - 900) / 10, zoom / 10)


def _ptz_word(pan: float, tilt: float, zoom: float) -> int:
    pan_t = min(3599, max(0, round(pan * 10)))
    tilt_t = min(2047, max(0, round(tilt * 10) + 900))
    zoom_t = min(511, max(0, round(zoom * 10)))
    return (pan_t << 20) | (tilt_t << 9) | zoom_t


# --- settings -------------------------------------------------------------------------------------


class VideoCodec(StrEnum):
    """The codec a simulated camera encodes."""

    H264 = "h264"
    H265 = "h265"

    @property
    def ps_codec(self) -> Codec:
        """The codec as the PS muxer names it."""
        return Codec.H264 if self is VideoCodec.H264 else Codec.H265


@dataclass(frozen=True, slots=True)
class VideoSettings:
    """How the simulated cameras encode (one setting for the whole fleet)."""

    codec: VideoCodec = VideoCodec.H264
    width: int = 640
    height: int = 360
    fps: int = 25
    bitrate_kbps: int = 1024
    gop_s: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 60:
            raise SimConfigError(f"video fps {self.fps}: 1-60")
        if not 16 <= self.bitrate_kbps <= 100_000:
            raise SimConfigError(f"video bitrate {self.bitrate_kbps} kbit/s: 16-100000")
        if self.gop_s <= 0:
            raise SimConfigError("video gop_s must be positive")
        Layout.for_size(self.width, self.height)

    @property
    def noise_rows(self) -> int:
        """Rows of moving noise that bring the stream near ``bitrate_kbps``."""
        rows = self.bitrate_kbps / _KBPS_PER_NOISE_ROW * 640 / self.width * 25 / self.fps
        return int(rows * 0.8)  # headroom: the text and clock cost bits too

    @property
    def frame_90k(self) -> int:
        """One frame period in 90 kHz ticks."""
        return 90000 // self.fps


# --- the picture --------------------------------------------------------------------------------


class TestPattern:
    """Renders frames for one channel; keeps the background until the head moves."""

    __test__ = False  # not a pytest class, whatever its name says

    def __init__(
        self,
        width: int,
        height: int,
        *,
        label: str,
        noise_rows: int = 0,
        tint: int = 0,
        utc_offset: timedelta = timedelta(hours=8),
    ) -> None:
        self.layout = Layout.for_size(width, height, noise_rows)
        self._label = label
        self._offset = utc_offset
        self._font = {ch: _glyph(rows, self.layout.scale) for ch, rows in _FONT_ROWS.items()}
        self._chroma = self._tinted(tint)
        self._base_key: tuple[float, float, float] | None = None
        self._base: Plane = np.zeros((height, width), dtype=np.uint8)
        rng = np.random.default_rng(width * 7919 + height)
        rows = max(self.layout.noise_band[1] - self.layout.noise_band[0], 0)
        self._noise = rng.integers(40, 216, size=(rows, 2 * width), dtype=np.uint8)

    def _tinted(self, tint: int) -> Plane:
        # a pale colour per channel, so tiles in a wall are told apart at a glance
        layout = self.layout
        chroma = np.empty((layout.height // 2, layout.width), dtype=np.uint8)
        half = layout.width // 2
        angle = (tint % 12) * np.pi / 6
        chroma[:, :half] = 128 + round(24 * np.cos(angle))
        chroma[:, half:] = 128 + round(24 * np.sin(angle))
        return chroma

    def _background(self, ptz: PtzPosition) -> Plane:
        key = (round(ptz.pan, 1), round(ptz.tilt, 1), round(ptz.zoom, 1))
        if key == self._base_key:
            return self._base
        layout = self.layout
        period = layout.stripe_period(ptz.zoom)
        per_degree = layout.pixels_per_degree * ptz.zoom
        shift_x = round(ptz.pan * per_degree)
        shift_y = round(-ptz.tilt * per_degree)
        cols = ((np.arange(layout.width) + shift_x) % period) < period // 2
        rows = ((np.arange(layout.height) + shift_y) % period) < period // 2
        base = np.where(rows[:, None] ^ cols[None, :], 150, 80).astype(np.uint8)
        top, stop = layout.pan_band
        base[top:stop] = np.where(cols, 200, 60).astype(np.uint8)
        self._base, self._base_key = base, key
        return base

    def _text(self, luma: Plane, top: int, left: int, text: str) -> None:
        blank = self._font[" "]
        glyphs = [self._font.get(ch, blank) for ch in text]
        strip = np.hstack(glyphs)
        pad = self.layout.scale
        height = min(strip.shape[0], luma.shape[0] - top - pad)
        width = min(strip.shape[1], luma.shape[1] - left - pad)
        luma[top - pad : top + height + pad, left - pad : left + width + pad] = BLACK
        luma[top : top + height, left : left + width] = strip[:height, :width]

    def render(self, *, unix_ms: int, ptz: PtzPosition, frame_index: int) -> Plane:
        """One frame as a ``(height * 3 / 2, width)`` yuv420p array."""
        layout = self.layout
        frame = np.empty((layout.height * 3 // 2, layout.width), dtype=np.uint8)
        luma = frame[: layout.height]
        luma[:] = self._background(ptz)
        frame[layout.height :] = self._chroma
        top, stop = layout.noise_band
        if stop > top:
            offset = (frame_index * 8) % layout.width
            luma[top:stop] = self._noise[:, offset : offset + layout.width]
        _draw_row(luma, layout, layout.time_top, _row_bits(unix_ms, _TIME_BITS))
        _draw_row(
            luma, layout, layout.ptz_top, _row_bits(_ptz_word(ptz.pan, ptz.tilt, ptz.zoom), 32)
        )
        moment = datetime.fromtimestamp(unix_ms / 1000, UTC) + self._offset
        line = 9 * layout.scale + layout.scale * 2
        left = 2 * layout.cell
        self._text(luma, layout.text_top, left, self._label)
        self._text(luma, layout.text_top + line, left, moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:23])
        ptz_text = f"P{ptz.pan:05.1f} T{ptz.tilt:+05.1f} Z{ptz.zoom:04.1f}"
        self._text(luma, layout.text_top + 2 * line, left, ptz_text.replace("+", " "))
        return frame
