"""Static privacy masks: polygons in normalised coordinates, rasterised once, applied per frame.

A mask is a list of polygons whose points are ``(x, y)`` fractions of the picture (0..1, origin
top left), so one mask fits every resolution a camera switches to. For a frame size it is
rasterised once (:meth:`PrivacyMask.for_size`, cached) into boolean planes for luma and
chroma; applying it to a YUV 4:2:0 picture writes black (Y=16, U=V=128) into the covered
pixels with a few numpy slice assignments, no Python loop per pixel.

Rasterising: a pixel is covered when its centre lies inside a polygon (even-odd rule for
self-intersecting outlines; overlapping polygons add up, they never cancel). A chroma sample
is covered when any of the four luma pixels it colours is, so no tinted fringe survives at the
edge. Sans-IO: numpy arrays in, numpy arrays changed in place.

    SightlineError
    └── MaskError       a polygon list that is not a valid mask (the API answers 422)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sightline.errors import SightlineError

__all__ = [
    "BLACK_CHROMA",
    "BLACK_LUMA",
    "MAX_POINTS",
    "MAX_POLYGONS",
    "MIN_POINTS",
    "FrameMask",
    "MaskError",
    "Point",
    "Polygon",
    "PrivacyMask",
    "rasterise",
    "validate_polygons",
]

MIN_POINTS = 3
MAX_POINTS = 64
MAX_POLYGONS = 32
BLACK_LUMA = 16  # video-range black
BLACK_CHROMA = 128  # no colour
_CACHED_SIZES = 4  # a camera switches between a few resolutions at most

Point = tuple[float, float]
Polygon = tuple[Point, ...]
Plane = npt.NDArray[np.uint8]
Coverage = npt.NDArray[np.bool_]


class MaskError(SightlineError, ValueError):
    """The polygons do not make a valid mask; the message says which one and why."""


def _point(raw: Sequence[float], where: str) -> Point:
    if len(raw) != 2:
        raise MaskError(f"{where}: a point is [x, y], got {len(raw)} numbers")
    x, y = float(raw[0]), float(raw[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise MaskError(f"{where}: coordinates must be finite numbers")
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise MaskError(f"{where}: ({x:g}, {y:g}) is outside the picture (0..1)")
    return x, y


def _area(polygon: Polygon) -> float:
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    n = len(polygon)
    return 0.5 * abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n)))


def validate_polygons(
    polygons: Sequence[Sequence[Sequence[float]]], max_polygons: int = MAX_POLYGONS
) -> tuple[Polygon, ...]:
    """The polygons as tuples; raises :class:`MaskError` for a list that is not a mask."""
    if len(polygons) > max_polygons:
        raise MaskError(f"at most {max_polygons} polygons per channel, got {len(polygons)}")
    out: list[Polygon] = []
    for index, raw in enumerate(polygons):
        where = f"polygon {index}"
        if not MIN_POINTS <= len(raw) <= MAX_POINTS:
            raise MaskError(f"{where}: {MIN_POINTS} to {MAX_POINTS} points, got {len(raw)}")
        polygon = tuple(_point(p, f"{where} point {i}") for i, p in enumerate(raw))
        if _area(polygon) < 1e-9:
            raise MaskError(f"{where}: its points enclose no area")
        out.append(polygon)
    return tuple(out)


def _cover_one(polygon: Polygon, width: int, height: int) -> Coverage:
    """Pixels whose centre is inside ``polygon`` (even-odd), by crossings and a running sum."""
    pts = np.asarray(polygon, dtype=np.float64) * (width, height)
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows = np.arange(height, dtype=np.float64) + 0.5  # pixel centres
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    # crosses[r, e]: edge e crosses the centre line of row r (half-open, so a vertex counts once)
    crosses = (rows[:, None] >= lo) & (rows[:, None] < hi)
    r, e = np.nonzero(crosses)
    x_at = x0[e] + (rows[r] - y0[e]) * (x1[e] - x0[e]) / (y1[e] - y0[e])
    # every pixel whose centre is right of a crossing flips parity: c + 0.5 >= x
    first = np.clip(np.ceil(x_at - 0.5), 0, width).astype(np.intp)
    flips = np.zeros((height, width + 1), dtype=np.uint8)
    np.add.at(flips, (r, first), 1)
    return (np.cumsum(flips, axis=1, dtype=np.uint16)[:, :width] & 1).astype(bool)


def rasterise(polygons: Sequence[Polygon], width: int, height: int) -> Coverage:
    """A ``(height, width)`` boolean array: True where some polygon covers the pixel."""
    if width <= 0 or height <= 0:
        raise MaskError(f"frame size {width}x{height} is empty")
    covered = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        covered |= _cover_one(polygon, width, height)
    return covered


def _bounds(covered: Coverage) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(covered.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(covered.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _subsample(covered: Coverage) -> Coverage:
    """Chroma coverage of 4:2:0: a sample is covered if any of its luma pixels is."""
    height, width = covered.shape
    padded = np.zeros((height + height % 2, width + width % 2), dtype=bool)
    padded[:height, :width] = covered
    h2, w2 = padded.shape[0] // 2, padded.shape[1] // 2
    return np.asarray(padded.reshape(h2, 2, w2, 2).any(axis=(1, 3)), dtype=bool)


@dataclass(frozen=True, slots=True, eq=False)
class _Region:
    """A coverage cropped to its bounding box, for fast in-place fills."""

    rows: slice
    cols: slice
    covered: Coverage

    @classmethod
    def of(cls, covered: Coverage) -> _Region | None:
        bounds = _bounds(covered)
        if bounds is None:
            return None
        return cls(bounds[0], bounds[1], np.ascontiguousarray(covered[bounds]))

    def fill(self, plane: Plane, value: int) -> None:
        plane[self.rows, self.cols][self.covered] = value


@dataclass(frozen=True, slots=True, eq=False)
class FrameMask:
    """A mask rasterised for one frame size; :meth:`apply` blacks out a YUV 4:2:0 picture."""

    width: int
    height: int
    luma: Coverage
    chroma: Coverage
    _luma_region: _Region | None
    _chroma_region: _Region | None

    @classmethod
    def build(cls, polygons: Sequence[Polygon], width: int, height: int) -> FrameMask:
        """Rasterise ``polygons`` for a ``width`` x ``height`` picture."""
        luma = rasterise(polygons, width, height)
        chroma = _subsample(luma)
        return cls(width, height, luma, chroma, _Region.of(luma), _Region.of(chroma))

    @property
    def covered_fraction(self) -> float:
        """How much of the picture is blacked out (0..1)."""
        return float(self.luma.mean())

    def apply(self, y: Plane, u: Plane, v: Plane) -> None:
        """Black out the covered pixels of the three planes, in place."""
        if y.shape != self.luma.shape or u.shape != self.chroma.shape or v.shape != u.shape:
            raise MaskError(
                f"planes {y.shape}/{u.shape}/{v.shape} do not match a "
                f"{self.width}x{self.height} mask"
            )
        if self._luma_region is None or self._chroma_region is None:
            return
        self._luma_region.fill(y, BLACK_LUMA)
        self._chroma_region.fill(u, BLACK_CHROMA)
        self._chroma_region.fill(v, BLACK_CHROMA)


class PrivacyMask:
    """A channel's polygons and their rasterisations, one per frame size seen (cached)."""

    def __init__(self, polygons: Sequence[Polygon]) -> None:
        self.polygons: tuple[Polygon, ...] = tuple(polygons)
        self._sizes: dict[tuple[int, int], FrameMask] = {}

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def for_size(self, width: int, height: int) -> FrameMask:
        """The mask rasterised for ``width`` x ``height`` (built on first use)."""
        mask = self._sizes.get((width, height))
        if mask is None:
            if len(self._sizes) >= _CACHED_SIZES:
                self._sizes.pop(next(iter(self._sizes)))
            mask = self._sizes[(width, height)] = FrameMask.build(self.polygons, width, height)
        return mask
