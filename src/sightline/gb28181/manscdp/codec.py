"""Bytes <-> MANSCDP models.

``decode`` turns a MESSAGE/NOTIFY/SUBSCRIBE body into a model: size check, charset detection
(:mod:`.charset`), sanitising and safe parsing (:mod:`.xml`), then dispatch on root element and
``CmdType`` (matched case-insensitively). Commands without a model decode to
:class:`UnknownMessage`, keeping the element tree as plain data, so a vendor extension such as
Uniview's ``SensorCatalog`` is never an error. ``encode`` writes a model with an explicit charset
and the tag spellings of the peer's edition.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from sightline.gb28181.manscdp.charset import decode_body, output_codec
from sightline.gb28181.manscdp.control import DeviceConfig, DeviceControl
from sightline.gb28181.manscdp.errors import LimitExceeded, ManscdpError
from sightline.gb28181.manscdp.models import CmdType, Message, Root
from sightline.gb28181.manscdp.notify import (
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
    CatalogResponse,
    ConfigDownloadResponse,
    DeviceInfoResponse,
    DeviceStatusResponse,
    PresetQueryResponse,
    RecordInfoResponse,
    ResultResponse,
)
from sightline.gb28181.manscdp.schema import Edition, Node, decode_fields, encode_into
from sightline.gb28181.manscdp.xml import (
    DEFAULT_LIMITS,
    Limits,
    XmlValue,
    element_to_value,
    fill_element,
    parse,
    serialise,
)

__all__ = [
    "MESSAGE_TYPES",
    "ManscdpMessage",
    "UnknownMessage",
    "decode",
    "decode_element",
    "encode",
]

_ENVELOPE = ("CmdType", "SN", "DeviceID")


@dataclass(frozen=True, kw_only=True)
class UnknownMessage:
    """A command without a model. ``body`` holds every child but CmdType, SN and DeviceID,
    as :func:`~sightline.gb28181.manscdp.xml.element_to_value` renders them."""

    root: Root
    cmd_type: str
    sn: int | None = None
    device_id: str | None = None
    body: Mapping[str, XmlValue]

    @property
    def command(self) -> str:
        """The ``CmdType`` text."""
        return self.cmd_type


ManscdpMessage: TypeAlias = Message | UnknownMessage

MESSAGE_TYPES: tuple[type[Message], ...] = (
    CatalogQuery,
    DeviceInfoQuery,
    DeviceStatusQuery,
    RecordInfoQuery,
    AlarmQuery,
    ConfigDownloadQuery,
    PresetQuery,
    MobilePositionQuery,
    CatalogResponse,
    DeviceInfoResponse,
    DeviceStatusResponse,
    RecordInfoResponse,
    PresetQueryResponse,
    ConfigDownloadResponse,
    Keepalive,
    AlarmNotify,
    MediaStatusNotify,
    CatalogNotify,
    DeviceControl,
    DeviceConfig,
)
_REGISTRY: dict[tuple[Root, CmdType], type[Message]] = {
    (cls.ROOT, cls.CMD_TYPE): cls for cls in MESSAGE_TYPES if cls.CMD_TYPE is not None
}
_RESULT_ONLY = frozenset(
    {CmdType.DEVICE_CONTROL, CmdType.DEVICE_CONFIG, CmdType.ALARM, CmdType.BROADCAST}
)
_CMD_BY_LOWER = {cmd.value.lower(): cmd for cmd in CmdType}


def decode(
    body: bytes, charset_hint: str | None = None, *, limits: Limits = DEFAULT_LIMITS
) -> ManscdpMessage:
    """Decode a MANSCDP body; ``charset_hint`` is a per-device charset override.

    Raises :class:`ManscdpError` (or a subclass) for anything it cannot turn into a message.
    """
    if len(body) > limits.max_body_bytes:
        raise LimitExceeded(f"body of {len(body)} bytes exceeds {limits.max_body_bytes}")
    text = decode_body(body, charset_hint)
    return decode_element(parse(text, limits))


def _message_class(root: Root, cmd: CmdType | None, node: Node) -> type[Message] | None:
    if cmd is None:
        return None
    if root is Root.RESPONSE and cmd in _RESULT_ONLY:
        return ResultResponse
    # Catalog also has a bare "received" Result answer to a catalog NOTIFY.
    if (
        root is Root.RESPONSE
        and cmd is CmdType.CATALOG
        and node.text("SumNum") is None
        and node.text("Result") is not None
    ):
        return ResultResponse
    return _REGISTRY.get((root, cmd))


def decode_element(element: ET.Element) -> ManscdpMessage:
    """Dispatch a parsed root element to its model."""
    try:
        root = Root(element.tag)
    except ValueError:
        raise ManscdpError(f"unknown root element <{element.tag[:40]}>") from None
    node = Node(element)
    cmd_text = node.text("CmdType")
    if cmd_text is None:
        raise ManscdpError("missing mandatory element", field="CmdType")
    cmd = _CMD_BY_LOWER.get(cmd_text.lower())
    cls = _message_class(root, cmd, node)
    if cls is None:
        return _decode_unknown(root, cmd_text, node)
    values: dict[str, Any] = decode_fields(cls, node)
    if cls is ResultResponse:
        values["cmd_type"] = cmd
    return cls(**values)


def _decode_unknown(root: Root, cmd_text: str, node: Node) -> UnknownMessage:
    sn_text = node.text("SN")
    if sn_text is not None and not (sn_text.isascii() and sn_text.isdigit()):
        raise ManscdpError(f"not an integer: {sn_text[:40]!r}", field="SN")
    everything = element_to_value(node.element)
    body = (
        {k: v for k, v in everything.items() if k not in _ENVELOPE}
        if isinstance(everything, dict)
        else {}
    )
    return UnknownMessage(
        root=root,
        cmd_type=cmd_text,
        sn=int(sn_text) if sn_text is not None else None,
        device_id=node.text("DeviceID"),
        body=body,
    )


def to_element(msg: ManscdpMessage, edition: Edition = Edition.V2016) -> ET.Element:
    """Build the element tree for ``msg``."""
    if isinstance(msg, UnknownMessage):
        root = ET.Element(msg.root.value)
        ET.SubElement(root, "CmdType").text = msg.cmd_type
        if msg.sn is not None:
            ET.SubElement(root, "SN").text = str(msg.sn)
        if msg.device_id is not None:
            ET.SubElement(root, "DeviceID").text = msg.device_id
        fill_element(root, msg.body)
        return root
    root = ET.Element(msg.ROOT.value)
    ET.SubElement(root, "CmdType").text = msg.command
    encode_into(msg, root, edition)
    return root


def encode(
    msg: ManscdpMessage, charset: str = "GB2312", *, edition: Edition = Edition.V2016
) -> bytes:
    """Serialise ``msg`` with an XML prolog declaring ``charset``.

    GB labels are encoded with GB 18030 (see :func:`.charset.output_codec`); ``edition`` picks
    2016 or 2022 tag spellings and placements (``IFameCmd``/``IFrameCmd``, ``BusinessGroupID``).
    """
    codec, label = output_codec(charset)
    text = f'<?xml version="1.0" encoding="{label}"?>\n{serialise(to_element(msg, edition))}\n'
    return text.encode(codec)
