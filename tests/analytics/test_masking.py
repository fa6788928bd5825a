"""The masking core: polygon validation, rasterising, and blacking out YUV 4:2:0 planes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.analytics.masking import (
    BLACK_CHROMA,
    BLACK_LUMA,
    MAX_POINTS,
    FrameMask,
    MaskError,
    PrivacyMask,
    rasterise,
    validate_polygons,
)
from sightline.errors import SightlineError

QUARTER = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5))

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
points = st.tuples(unit, unit)
polygons = st.lists(points, min_size=3, max_size=MAX_POINTS)
anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10).map(float)
)


def planes(width: int, height: int, value: int = 200) -> tuple[np.ndarray, ...]:
    y = np.full((height, width), value, np.uint8)
    u = np.full(((height + 1) // 2, (width + 1) // 2), 60, np.uint8)
    return y, u, u.copy()


# -- validation ---------------------------------------------------------------------------------


@given(st.lists(st.lists(st.tuples(anything, anything), max_size=70), max_size=40))
def test_validation_accepts_or_raises_only_mask_error(raw: list[list[tuple[float, float]]]) -> None:
    try:
        valid = validate_polygons(raw)
    except MaskError as exc:
        assert isinstance(exc, SightlineError) and str(exc)
        return
    assert len(valid) == len(raw) <= 32
    for polygon in valid:
        assert 3 <= len(polygon) <= MAX_POINTS
        assert all(0 <= c <= 1 and math.isfinite(c) for point in polygon for c in point)


@given(st.lists(polygons, min_size=1, max_size=4))
def test_valid_polygons_round_trip_unchanged(raw: list[list[tuple[float, float]]]) -> None:
    try:
        valid = validate_polygons(raw)
    except MaskError as exc:
        assert "no area" in str(exc)  # collinear or repeated points only
        return
    assert [list(p) for p in valid] == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([[(0, 0), (1, 0)]], "3 to 64 points, got 2"),
        ([[(0, 0), (1, 0), (1, 1)] * 22], "3 to 64 points, got 66"),
        ([[(0, 0), (1.5, 0), (1, 1)]], "outside the picture"),
        ([[(0, 0), (-0.1, 0), (1, 1)]], "outside the picture"),
        ([[(0, 0), (math.nan, 0), (1, 1)]], "finite"),
        ([[(0, 0), (0.5, 0.5), (1, 1)]], "no area"),
        ([[(0, 0, 0), (1, 0), (1, 1)]], "[x, y]"),
        ([list(QUARTER)] * 33, "at most 32 polygons"),
    ],
)
def test_invalid_masks_are_refused_with_a_reason(raw: list[object], message: str) -> None:
    with pytest.raises(MaskError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_polygons(raw)  # type: ignore[arg-type]


def test_the_polygon_limit_is_configurable() -> None:
    with pytest.raises(MaskError, match="at most 2 polygons"):
        validate_polygons([QUARTER] * 3, max_polygons=2)


# -- rasterising ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(320, 240), (1920, 1080), (33, 17)])
def test_a_quarter_rectangle_covers_exactly_its_pixels(width: int, height: int) -> None:
    covered = rasterise([QUARTER], width, height)
    expected = np.zeros((height, width), bool)
    expected[: round(height / 2), : round(width / 2)] = True
    if height % 2 or width % 2:  # centres exactly on the edge: compare away from it
        inner = covered[: height // 2, : width // 2]
        assert inner.all() and not covered[height // 2 + 1 :].any()
        assert not covered[:, width // 2 + 1 :].any()
    else:
        assert (covered == expected).all()


def test_a_triangle_covers_about_its_area() -> None:
    triangle = ((0.1, 0.1), (0.9, 0.2), (0.4, 0.9))
    covered = rasterise([triangle], 800, 600)
    area = 0.5 * abs(0.1 * (0.2 - 0.9) + 0.9 * (0.9 - 0.1) + 0.4 * (0.1 - 0.2))
    assert covered.mean() == pytest.approx(area, abs=0.002)
    assert covered[int(0.4 * 600), int(0.45 * 800)]  # inside
    assert not covered[int(0.85 * 600), int(0.8 * 800)]  # outside


def test_overlapping_polygons_add_up_instead_of_cancelling() -> None:
    left = ((0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0))
    right = ((0.4, 0.0), (1.0, 0.0), (1.0, 1.0), (0.4, 1.0))
    assert rasterise([left, right], 100, 50).all()


def test_a_self_intersecting_outline_uses_the_even_odd_rule() -> None:
    bow_tie = ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0))
    covered = rasterise([bow_tie], 100, 100)
    assert covered[50, 5] and covered[50, 95]  # the left and right lobes
    assert not covered[5, 50] and not covered[95, 50]
    star = tuple(
        (0.5 + 0.5 * math.sin(4 * math.pi * k / 5), 0.5 - 0.5 * math.cos(4 * math.pi * k / 5))
        for k in range(5)
    )
    pentagram = rasterise([star], 200, 200)
    assert pentagram[20, 100] and not pentagram[110, 100]  # a point covered, the middle open


@given(st.lists(polygons, min_size=1, max_size=3), st.integers(2, 64), st.integers(2, 64))
def test_rasterising_matches_a_point_in_polygon_test(
    raw: list[list[tuple[float, float]]], width: int, height: int
) -> None:
    try:
        valid = validate_polygons(raw)
    except MaskError:
        return
    covered = rasterise(valid, width, height)
    assert covered.shape == (height, width)
    for row, col in [(0, 0), (height // 2, width // 2), (height - 1, width - 1)]:
        x, y = (col + 0.5) / width, (row + 0.5) / height
        inside = any(_contains(p, x, y) for p in valid)
        on_edge = any(_near_edge(p, x, y, 1e-9) for p in valid)
        assert on_edge or covered[row, col] == inside


def _contains(polygon: tuple[tuple[float, float], ...], x: float, y: float) -> bool:
    inside = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        spans = (y0 <= y < y1) or (y1 <= y < y0)
        if spans and x >= x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _near_edge(polygon: tuple[tuple[float, float], ...], x: float, y: float, eps: float) -> bool:
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        spans = min(y0, y1) - eps <= y <= max(y0, y1) + eps and y1 != y0
        if spans and abs(x - (x0 + (y - y0) * (x1 - x0) / (y1 - y0))) < 1e-6:
            return True
        if abs(y - y0) < 1e-6 or abs(y - y1) < 1e-6:
            return True
    return False


# -- applying -------------------------------------------------------------------------------------


def test_applying_blacks_out_the_quarter_and_leaves_the_rest() -> None:
    mask = PrivacyMask(validate_polygons([QUARTER])).for_size(320, 240)
    y, u, v = planes(320, 240)
    mask.apply(y, u, v)
    assert (y[:120, :160] == BLACK_LUMA).all() and (y[120:] == 200).all()
    assert (y[:, 160:] == 200).all()
    assert (u[:60, :80] == BLACK_CHROMA).all() and (v[:60, :80] == BLACK_CHROMA).all()
    assert (u[60:] == 60).all() and (v[:, 80:] == 60).all()
    assert mask.covered_fraction == pytest.approx(0.25)


def test_chroma_is_covered_where_any_of_its_luma_pixels_is() -> None:
    sliver = ((0.0, 0.0), (0.26, 0.0), (0.26, 1.0), (0.0, 1.0))  # 26 of 100 columns: odd edge
    mask = FrameMask.build([sliver], 100, 10)
    assert mask.luma[0].sum() == 26
    assert mask.chroma[0].sum() == 13
    three = FrameMask.build([((0.0, 0.0), (0.03, 0.0), (0.03, 1.0), (0.0, 1.0))], 100, 10)
    assert three.luma[0].sum() == 3 and three.chroma[0].sum() == 2  # rounded up, not down


def test_an_empty_mask_changes_nothing_and_planes_must_match() -> None:
    y, u, v = planes(64, 48)
    PrivacyMask(()).for_size(64, 48).apply(y, u, v)
    assert (y == 200).all() and (u == 60).all()
    with pytest.raises(MaskError, match="do not match"):
        PrivacyMask([QUARTER]).for_size(64, 48).apply(y[:10], u, v)
    with pytest.raises(MaskError, match="empty"):
        rasterise([QUARTER], 0, 10)


def test_masks_apply_to_padded_plane_views() -> None:
    padded = np.full((240, 384), 200, np.uint8)  # line size 384 for a 320-wide picture
    chroma = np.full((120, 192), 60, np.uint8)
    y, u, v = padded[:, :320], chroma[:, :160], chroma.copy()[:, :160]
    PrivacyMask([QUARTER]).for_size(320, 240).apply(y, u, v)
    assert (padded[:120, :160] == BLACK_LUMA).all() and (padded[:, 320:] == 200).all()


def test_rasterisations_are_cached_per_size() -> None:
    mask = PrivacyMask([QUARTER])
    assert mask.for_size(320, 240) is mask.for_size(320, 240)
    sizes = [(16 * i, 16 * i) for i in range(1, 7)]
    for w, h in sizes:
        mask.for_size(w, h)
    assert bool(mask) and not PrivacyMask(())
    assert len(mask._sizes) <= 4  # bounded: old sizes are dropped
