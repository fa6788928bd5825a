"""MANSCDP (Annex A): the XML command bodies of GB/T 28181 MESSAGE, SUBSCRIBE and NOTIFY.

``decode(body, charset_hint)`` gives a typed model (or :class:`UnknownMessage`),
``encode(msg, charset, edition=...)`` gives bytes. Both are pure functions.
"""

from sightline.gb28181.manscdp.catalog import CatalogEvent, CatalogItem
from sightline.gb28181.manscdp.codec import (
    MESSAGE_TYPES,
    ManscdpMessage,
    UnknownMessage,
    decode,
    encode,
)
from sightline.gb28181.manscdp.control import (
    DeviceConfig,
    DeviceControl,
    DragZoom,
    GuardCmd,
    HomePosition,
    RecordCmd,
)
from sightline.gb28181.manscdp.errors import LimitExceeded, ManscdpError, UnsafeXml
from sightline.gb28181.manscdp.models import (
    BasicParam,
    CmdType,
    Edition,
    Message,
    OnOff,
    Result,
    Root,
)
from sightline.gb28181.manscdp.notify import (
    MEDIA_STATUS_FILE_END,
    AlarmNotify,
    CatalogNotify,
    Keepalive,
    MediaStatusNotify,
)
from sightline.gb28181.manscdp.queries import (
    AlarmQuery,
    CatalogQuery,
    ConfigDownloadQuery,
    DeviceInfoQuery,
    DeviceStatusQuery,
    MobilePositionQuery,
    PresetQuery,
    RecordInfoQuery,
)
from sightline.gb28181.manscdp.responses import (
    AlarmStatusItem,
    CatalogResponse,
    ConfigDownloadResponse,
    DeviceInfoResponse,
    DeviceStatusResponse,
    DutyStatus,
    Online,
    PresetItem,
    PresetQueryResponse,
    RecordInfoResponse,
    RecordItem,
    ResultResponse,
    VideoParamOpt,
)
from sightline.gb28181.manscdp.sn import SnCounter
from sightline.gb28181.manscdp.xml import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "MEDIA_STATUS_FILE_END",
    "MESSAGE_TYPES",
    "AlarmNotify",
    "AlarmQuery",
    "AlarmStatusItem",
    "BasicParam",
    "CatalogEvent",
    "CatalogItem",
    "CatalogNotify",
    "CatalogQuery",
    "CatalogResponse",
    "CmdType",
    "ConfigDownloadQuery",
    "ConfigDownloadResponse",
    "DeviceConfig",
    "DeviceControl",
    "DeviceInfoQuery",
    "DeviceInfoResponse",
    "DeviceStatusQuery",
    "DeviceStatusResponse",
    "DragZoom",
    "DutyStatus",
    "Edition",
    "GuardCmd",
    "HomePosition",
    "Keepalive",
    "LimitExceeded",
    "Limits",
    "ManscdpError",
    "ManscdpMessage",
    "MediaStatusNotify",
    "Message",
    "MobilePositionQuery",
    "OnOff",
    "Online",
    "PresetItem",
    "PresetQuery",
    "PresetQueryResponse",
    "RecordCmd",
    "RecordInfoQuery",
    "RecordInfoResponse",
    "RecordItem",
    "Result",
    "ResultResponse",
    "Root",
    "SnCounter",
    "UnknownMessage",
    "UnsafeXml",
    "VideoParamOpt",
    "decode",
    "encode",
]
