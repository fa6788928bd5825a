"""The catalog item (目录项) shared by Catalog responses and Catalog notifications.

The field set is the union of the 2016 (A.2.1 g) and 2022 (A.2.1.9) editions. Camera attributes
live under ``<Info>``; the decoder also finds them directly on the item, where some vendors put
them. ``BusinessGroupID`` is written under ``Info`` for 2016 peers and on the item for 2022 peers,
and read from either place. The case of 2022-only tags is reconstructed from implementations (the
official text was only available as OCR), which the case-insensitive lookup makes harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sightline.gb28181.manscdp.schema import Spec

__all__ = ["CATALOG_LIST", "CatalogEvent", "CatalogItem"]

CATALOG_LIST = Spec(tag="DeviceList", item="Item", count_attr="Num")

_INFO = ("Info",)
_INFO_FIELDS = (
    "ptz_type",
    "photoelectric_imaging_type",
    "capture_position_type",
    "position_type",
    "room_type",
    "use_type",
    "supply_light_type",
    "direction_type",
    "resolution",
    "stream_number_list",
    "download_speed",
    "svc_space_support_mode",
    "svc_time_support_mode",
    "ssvc_ratio_support_list",
    "mobile_device_type",
    "horizontal_field_angle",
    "vertical_field_angle",
    "max_view_distance",
    "grassroots_code",
    "point_type",
    "point_common_name",
    "mac",
    "function_type",
    "encode_type",
    "install_time",
    "management_unit",
    "contact_info",
    "record_save_days",
    "industrial_classification",
)
_ONLINE_WORDS = frozenset({"ON", "ONLINE", "OK"})


class CatalogEvent(StrEnum):
    """Per-item event of a catalog NOTIFY."""

    ON = "ON"
    OFF = "OFF"
    VLOST = "VLOST"  # video lost
    DEFECT = "DEFECT"  # fault
    ADD = "ADD"
    DEL = "DEL"
    UPDATE = "UPDATE"


@dataclass(frozen=True, kw_only=True)
class CatalogItem:
    """One device, channel, area, system, business group or virtual organisation.

    ``status`` is kept as sent (``ON``/``OFF`` in the standard; devices also write ``ONLINE``,
    ``OFFLINE`` or ``OK``): use :attr:`is_online` rather than comparing it.
    """

    XML: ClassVar[Mapping[str, Spec]] = {
        **{name: Spec(path=_INFO) for name in _INFO_FIELDS},
        "business_group_id": Spec(path=_INFO, path_2022=()),
    }

    device_id: str
    event: CatalogEvent | None = None
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    owner: str | None = None  # 2016 only
    civil_code: str | None = None
    block: str | None = None
    address: str | None = None
    parental: int | None = None
    parent_id: str | None = None  # may list several IDs separated by "/"
    safety_way: int | None = None  # 2016 only
    register_way: int | None = None
    security_level_code: str | None = None  # 2022
    cert_num: str | None = None  # 2016 only
    certifiable: int | None = None  # 2016 only
    err_code: int | None = None  # 2016 only
    end_time: datetime | None = None  # 2016 only: certificate expiry
    secrecy: int | None = None
    ip_address: str | None = None
    port: int | None = None
    password: str | None = None
    status: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    business_group_id: str | None = None
    # <Info> children
    ptz_type: int | None = None
    photoelectric_imaging_type: str | None = None  # 2022
    capture_position_type: str | None = None  # 2022
    position_type: int | None = None  # 2016
    room_type: int | None = None
    use_type: int | None = None  # 2016
    supply_light_type: int | None = None
    direction_type: int | None = None
    resolution: str | None = None
    stream_number_list: str | None = None  # 2022
    download_speed: str | None = None
    svc_space_support_mode: int | None = None
    svc_time_support_mode: int | None = None
    ssvc_ratio_support_list: str | None = None  # 2022
    mobile_device_type: int | None = None  # 2022
    horizontal_field_angle: float | None = None  # 2022
    vertical_field_angle: float | None = None  # 2022
    max_view_distance: float | None = None  # 2022
    grassroots_code: str | None = None  # 2022
    point_type: int | None = None  # 2022
    point_common_name: str | None = None  # 2022
    mac: str | None = None  # 2022
    function_type: str | None = None  # 2022
    encode_type: str | None = None  # 2022
    install_time: datetime | None = None  # 2022
    management_unit: str | None = None  # 2022
    contact_info: str | None = None  # 2022
    record_save_days: int | None = None  # 2022
    industrial_classification: str | None = None  # 2022

    @property
    def is_online(self) -> bool:
        """Whether ``status`` says the item is online."""
        return (self.status or "").strip().upper() in _ONLINE_WORDS

    @property
    def parent_ids(self) -> tuple[str, ...]:
        """``parent_id`` split on ``/`` (2022 multi-path cascades list several parents)."""
        return tuple(p.strip() for p in (self.parent_id or "").split("/") if p.strip())
