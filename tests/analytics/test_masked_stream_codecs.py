"""A masked view and units it cannot mask: audio passes, undecodable video fails closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from sightline.analytics.masked_stream import MaskedUpstream
from sightline.analytics.masked_video import MaskedVideo
from sightline.analytics.masking import PrivacyMask
from sightline.media.hub import Viewer
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit

QUARTER = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5))


def _units() -> list[AccessUnit]:
    out = []
    for i in range(6):
        t = 3600 * i
        out.append(AccessUnit(Codec.MPEG4, 0xE0, t, t, b"\x00\x00\x01\xb6" + bytes(40), i == 0))
        out.append(AccessUnit(Codec.G711A, 0xC0, t, t, b"\xd5" * 320, True))
    return out


async def _source(units: list[AccessUnit]) -> AsyncIterator[AccessUnit]:
    for unit in units:
        yield unit


async def _through(mask: PrivacyMask) -> list[AccessUnit]:
    released: list[MaskedUpstream] = []
    upstream = MaskedUpstream(
        cast(Viewer, _source(_units())), MaskedVideo(mask), release=released.append
    )
    out = [unit async for unit in upstream.frames()]
    assert released == [upstream]
    return out


async def test_without_masks_every_unit_passes() -> None:
    assert await _through(PrivacyMask([])) == _units()


async def test_video_that_cannot_be_masked_is_withheld_while_masks_exist() -> None:
    out = await _through(PrivacyMask([QUARTER]))
    assert [u.codec for u in out] == [Codec.G711A] * 6  # the audio, never the MPEG-4 pictures
