"""Device recordings as sightline sees them: RecordInfo items → UTC segments (sans-IO).

GB/T 28181 writes times as local wall-clock times without an offset (``2026-11-24T08:00:00``).
Which zone that is belongs to the device, not to the message, so it is a setting
(``playback.device_time_zone``, default the platform's own zone) and every conversion here takes
it explicitly: :func:`to_device_local` for the query, :func:`from_device_local` for the answer.
A time that arrives with an offset (some devices add ``+08:00``) has already lost it in the
MANSCDP codec, which reads every time as naive; that matches as long as the setting names the
zone the device runs in.

The segments a device returns are clipped to nothing: the API shows what the device said, but
sorted oldest first, deduplicated (split answers sometimes repeat an item) and restricted to
those that overlap the asked range.
"""

from __future__ import annotations

import contextlib
import os
import zoneinfo
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo

from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.manscdp import RecordItem
from sightline.media.playback import RecordSegment, RecordSourceName

__all__ = [
    "RecordTimeError",
    "device_zone",
    "from_device_local",
    "segments_from_items",
    "to_device_local",
]

_KINDS = {"time": "time", "alarm": "alarm", "manual": "manual"}


class RecordTimeError(Gb28181Error, ValueError):
    """A time without a zone where one is needed, or an unknown zone name."""


def _platform_zone() -> tzinfo:
    """The platform's own zone with its daylight-saving rules.

    ``datetime.now().astimezone().tzinfo`` would be today's fixed offset: recordings on the
    other side of a daylight-saving change would be an hour off. So: ``TZ`` when it names an
    IANA zone, else ``/etc/localtime``; today's offset only when neither can be read.
    """
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            return zoneinfo.ZoneInfo(name)
    else:
        with contextlib.suppress(OSError, ValueError), open("/etc/localtime", "rb") as file:
            return zoneinfo.ZoneInfo.from_file(file, key="localtime")
    local = datetime.now().astimezone().tzinfo  # e.g. a POSIX TZ string such as "CST-8"
    assert local is not None
    return local


def device_zone(name: str) -> tzinfo:
    """The zone called ``name`` (IANA), or the platform's local zone for an empty name."""
    if not name.strip():
        return _platform_zone()
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RecordTimeError(f"unknown time zone {name!r}") from None


def to_device_local(moment: datetime, zone: tzinfo) -> datetime:
    """An aware time as the naive local time a device in ``zone`` reads."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordTimeError(f"{moment.isoformat()} has no time zone")
    return moment.astimezone(zone).replace(tzinfo=None)


def from_device_local(local: datetime, zone: tzinfo) -> datetime:
    """A device's naive local time (in ``zone``) as an aware UTC time."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=zone).astimezone(UTC)


def segments_from_items(
    channel_id: str,
    items: Iterable[RecordItem],
    zone: tzinfo,
    start: datetime,
    end: datetime,
) -> list[RecordSegment]:
    """The segments of ``items`` overlapping [start, end), oldest first, without repeats."""
    found: dict[tuple[datetime, datetime, str], RecordSegment] = {}
    for item in items:
        if item.start_time is None or item.end_time is None:
            continue  # an item without its times cannot be played
        begin = from_device_local(item.start_time, zone)
        finish = from_device_local(item.end_time, zone)
        if finish <= begin or finish <= start or begin >= end:
            continue
        kind = _KINDS.get((item.record_type or "time").strip().lower(), "time")
        segment = RecordSegment(
            channel_id=channel_id,
            start=begin,
            end=finish,
            source=RecordSourceName.DEVICE,
            size_bytes=item.file_size,
            kind=kind,
        )
        found.setdefault((begin, finish, kind), segment)
    return sorted(found.values(), key=lambda s: (s.start, s.end))
