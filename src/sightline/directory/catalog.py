"""Catalog items → directory records: regions, groups and channels (pure functions).

Classification by ID (GB/T 28181 Annex D/E): a 2/4/6/8-digit ID is an administrative area, type 215
a business group, 216 a virtual organisation, 200 a platform (a lower platform's own item, kept
out of the channel list), and any other 20-digit ID a channel (111-199 are cameras, encoders,
alarm inputs and other front-end devices). Anything else is ignored and reported.

Device input is not trusted: text is stripped of NUL and cut to the column sizes, integers outside
32 bits and coordinates outside the globe (or at 0,0, the "not set" value many devices send)
become ``None``, and the item's ``Password`` is never stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum

from sightline.gb28181 import civil
from sightline.gb28181.errors import InvalidCivilCode, InvalidGbId
from sightline.gb28181.ids import GbId, is_area_code
from sightline.gb28181.manscdp import CatalogEvent, CatalogItem
from sightline.store import Channel, ChannelStatus, Group, GroupKind, Region

__all__ = [
    "CatalogBatch",
    "EventPlan",
    "ItemKind",
    "classify",
    "normalize_civil_code",
    "plan_events",
    "split_catalog",
    "to_channel",
    "to_group",
    "to_region",
]

_TEXT = 255
_EXTRA_TEXT = 1024
_INT32 = 2**31
# CatalogItem fields stored in their own channel columns (or deliberately not at all).
_COLUMNS = frozenset(
    {
        "device_id",
        "event",
        "name",
        "manufacturer",
        "model",
        "owner",
        "civil_code",
        "block",
        "address",
        "parental",
        "parent_id",
        "register_way",
        "secrecy",
        "ip_address",
        "port",
        "status",
        "longitude",
        "latitude",
        "business_group_id",
        "ptz_type",
    }
)
_SECRET = frozenset({"password"})
FAULT_KEY = "fault"
FAULT_AT_KEY = "fault_at"


class ItemKind(StrEnum):
    """What a catalog item is, by its ID."""

    AREA = "area"
    BUSINESS_GROUP = "business_group"
    VIRTUAL_ORG = "virtual_org"
    CHANNEL = "channel"
    IGNORED = "ignored"


def classify(item: CatalogItem) -> ItemKind:
    """The kind of ``item`` from its ``DeviceID``."""
    item_id = item.device_id.strip()
    if is_area_code(item_id):
        return ItemKind.AREA if civil.is_civil_code(item_id) else ItemKind.IGNORED
    try:
        gb_id = GbId.parse(item_id)
    except InvalidGbId:
        return ItemKind.IGNORED
    if gb_id.is_business_group:
        return ItemKind.BUSINESS_GROUP
    if gb_id.is_virtual_org:
        return ItemKind.VIRTUAL_ORG
    return ItemKind.IGNORED if gb_id.is_platform else ItemKind.CHANNEL


def _text(value: str | None, limit: int = _TEXT) -> str | None:
    if value is None:
        return None
    # PostgreSQL text cannot hold NUL; some devices pad fields with it.
    clean = value.replace("\x00", "").strip()
    return clean[:limit] or None


def _int32(value: int | None) -> int | None:
    return value if value is not None and -_INT32 < value < _INT32 else None


def _gb_id(value: str | None) -> str | None:
    try:
        return str(GbId.parse(value)) if value else None
    except InvalidGbId:
        return None


def normalize_civil_code(text: str | None) -> str | None:
    """The canonical area of a channel's ``CivilCode``, or ``None`` if it names no area.

    Besides 2/4/6/8-digit codes, devices write their 10-digit SIP domain or a 20-digit ID here;
    the first 8 digits of those are the center's area code.
    """
    value = (text or "").strip()
    if value.isascii() and value.isdigit() and len(value) in (10, 20):
        value = value[:8]
    try:
        return civil.canonical(value)
    except InvalidCivilCode:
        return None


def _coordinates(item: CatalogItem) -> tuple[float | None, float | None]:
    lon, lat = item.longitude, item.latitude
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)):
        return None, None
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0) or (lon == 0.0 and lat == 0.0):
        return None, None
    return lon, lat


def _extra(item: CatalogItem) -> dict[str, str]:
    extra: dict[str, str] = {}
    for f in fields(item):
        value = getattr(item, f.name)
        if f.name in _COLUMNS or f.name in _SECRET or value is None:
            continue
        shown = value.isoformat() if isinstance(value, datetime) else str(value)
        extra[f.name] = shown.replace("\x00", "")[:_EXTRA_TEXT]
    return extra


def _status(item: CatalogItem) -> ChannelStatus:
    # A device listing a channel without Status is reporting it as present: the standard makes
    # Status mandatory, and the vendors that omit it do so for working channels.
    if item.status is None or item.is_online:
        return ChannelStatus.ON
    return ChannelStatus.OFF


def to_channel(item: CatalogItem, device_id: str, at: datetime) -> Channel:
    """The channel record for a channel item of ``device_id``."""
    lon, lat = _coordinates(item)
    civil_code = normalize_civil_code(item.civil_code)
    extra = _extra(item)
    raw_civil = _text(item.civil_code, 64)
    if civil_code is None and raw_civil is not None:
        extra["civil_code_raw"] = raw_civil
    port = item.port if item.port is not None and 0 <= item.port <= 65535 else None
    return Channel(
        id=item.device_id.strip(),
        device_id=device_id,
        updated_at=at,
        name=_text(item.name) or "",
        manufacturer=_text(item.manufacturer),
        model=_text(item.model),
        owner=_text(item.owner),
        civil_code=civil_code,
        block=_text(item.block),
        address=_text(item.address),
        parental=_int32(item.parental),
        parent_id=_text("/".join(item.parent_ids)),
        business_group_id=_gb_id(item.business_group_id),
        register_way=_int32(item.register_way),
        secrecy=_int32(item.secrecy),
        ip_address=_text(item.ip_address, 64),
        port=port,
        status=_status(item),
        longitude=lon,
        latitude=lat,
        ptz_type=_int32(item.ptz_type),
        extra=extra,
    )


def to_region(item: CatalogItem) -> Region:
    """The region record for an area item (its ID must be a civil code)."""
    code = civil.canonical(item.device_id)
    return Region(code=code, name=_text(item.name) or "", parent_code=civil.parent_code(code))


def _is_group_id(value: str) -> bool:
    try:
        gb_id = GbId.parse(value)
    except InvalidGbId:
        return False
    return gb_id.is_business_group or gb_id.is_virtual_org


def to_group(item: CatalogItem) -> Group:
    """The group record for a business group (215) or virtual organisation (216) item.

    Only another group can be a parent: business groups of 2016 catalogs name the platform as
    their parent, which is not part of the group tree.
    """
    group_id = item.device_id.strip()
    kind = GroupKind.BUSINESS if GbId.parse(group_id).is_business_group else GroupKind.VIRTUAL
    parents = [p for p in item.parent_ids if p != group_id and _is_group_id(p)]
    business = _gb_id(item.business_group_id) if kind is GroupKind.VIRTUAL else None
    parent = parents[0] if parents else business
    return Group(
        id=group_id,
        kind=kind,
        name=_text(item.name) or "",
        parent_id=parent,
        business_group_id=business,
    )


def _with_ancestors(regions: Iterable[Region]) -> list[Region]:
    """``regions`` plus unnamed records for their missing ancestors, so the table is a tree."""
    by_code = {r.code: r for r in regions}
    for region in list(by_code.values()):
        for code in civil.ancestors(region.code):
            by_code.setdefault(
                code, Region(code=code, name="", parent_code=civil.parent_code(code))
            )
    return sorted(by_code.values(), key=lambda r: r.code)


@dataclass(frozen=True)
class CatalogBatch:
    """A catalog split into records; ``ignored`` holds the IDs of items that fit nowhere."""

    regions: tuple[Region, ...]
    groups: tuple[Group, ...]
    channels: tuple[Channel, ...]
    ignored: tuple[str, ...]


def _latest(items: Iterable[CatalogItem]) -> list[CatalogItem]:
    """One item per ID, the last one sent (multi-message catalogs repeat items on retries)."""
    return list({item.device_id.strip(): item for item in items}.values())


def split_catalog(device_id: str, items: Iterable[CatalogItem], at: datetime) -> CatalogBatch:
    """Sort a device's catalog into regions, groups and channels."""
    regions: list[Region] = []
    groups: list[Group] = []
    channels: list[Channel] = []
    ignored: list[str] = []
    for item in _latest(items):
        kind = classify(item)
        if kind is ItemKind.AREA:
            regions.append(to_region(item))
        elif kind in (ItemKind.BUSINESS_GROUP, ItemKind.VIRTUAL_ORG):
            groups.append(to_group(item))
        elif kind is ItemKind.CHANNEL:
            channels.append(to_channel(item, device_id, at))
        else:
            ignored.append(item.device_id[:64])
    return CatalogBatch(
        tuple(_with_ancestors(regions)), tuple(groups), tuple(channels), tuple(ignored)
    )


@dataclass(frozen=True)
class EventPlan:
    """What a catalog NOTIFY changes: channels to write and delete, regions and groups."""

    upserts: tuple[Channel, ...]
    deletes: tuple[str, ...]
    regions: tuple[Region, ...]
    groups: tuple[Group, ...]
    group_deletes: tuple[str, ...]


def _status_change(
    channel: Channel, event: CatalogEvent, item: CatalogItem, at: datetime
) -> Channel:
    extra = dict(channel.extra)
    if event in (CatalogEvent.VLOST, CatalogEvent.DEFECT):
        # Video lost or a fault: the channel is reachable but its picture is not intact.
        extra[FAULT_KEY], extra[FAULT_AT_KEY] = event.value, at.isoformat()
        status = _status(item) if item.status is not None else channel.status
        return replace(channel, status=status, extra=extra, updated_at=at)
    status = ChannelStatus.ON if event is CatalogEvent.ON else ChannelStatus.OFF
    if event is CatalogEvent.ON:
        extra.pop(FAULT_KEY, None)
        extra.pop(FAULT_AT_KEY, None)
    return replace(channel, status=status, extra=extra, updated_at=at)


def plan_events(
    device_id: str,
    items: Sequence[CatalogItem],
    current: Mapping[str, Channel],
    at: datetime,
) -> EventPlan:
    """Apply NOTIFY items in order to ``current`` (this device's channels named by the items).

    ADD and UPDATE (and items without an event) upsert, DEL deletes, ON/OFF set the status and
    VLOST/DEFECT mark a fault. Status events for channels the device does not own are ignored.
    """
    state: dict[str, Channel | None] = dict(current)
    changed: set[str] = set()
    regions: list[Region] = []
    groups: dict[str, Group] = {}
    group_deletes: list[str] = []
    for item in items:
        item_id, kind = item.device_id.strip(), classify(item)
        event = item.event or CatalogEvent.UPDATE
        if kind in (ItemKind.BUSINESS_GROUP, ItemKind.VIRTUAL_ORG):
            if event is CatalogEvent.DEL:
                groups.pop(item_id, None)
                group_deletes.append(item_id)
            elif event in (CatalogEvent.ADD, CatalogEvent.UPDATE):
                groups[item_id] = to_group(item)
        elif kind is ItemKind.AREA and event in (CatalogEvent.ADD, CatalogEvent.UPDATE):
            regions.append(to_region(item))
        elif kind is ItemKind.CHANNEL:
            existing = state.get(item_id)
            if event in (CatalogEvent.ADD, CatalogEvent.UPDATE):
                state[item_id] = to_channel(item, device_id, at)
            elif event is CatalogEvent.DEL:
                state[item_id] = None
            elif existing is not None:
                state[item_id] = _status_change(existing, event, item, at)
            else:
                continue
            changed.add(item_id)
    upserts = tuple(c for i in sorted(changed) if (c := state[i]) is not None)
    deletes = tuple(i for i in sorted(changed) if state[i] is None and i in current)
    return EventPlan(
        upserts,
        deletes,
        tuple(_with_ancestors(regions)),
        tuple(groups.values()),
        tuple(group_deletes),
    )
