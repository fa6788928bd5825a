"""Binding between frozen dataclass models and MANSCDP elements.

Each model field maps to one element. The tag comes from the attribute name in CamelCase
(``heart_beat_interval`` -> ``HeartBeatInterval``; ``id``, ``sn``, ``ip``, ``ptz``, ``svc``,
``ssvc`` and ``mac`` are upper-cased), or from a :class:`Spec` in the model's ``XML`` class
variable for everything else: a parent path such as ``("Info",)``, a different 2022 spelling or
place, decoder-only aliases, repeated items inside a wrapper with a count attribute, and
presence flags whose text is fixed (``<TeleBoot>Boot</TeleBoot>``).

The field's type drives the conversion: ``str``, ``int``, ``float``, ``bool`` (``1``/``0``),
``datetime`` (naive device-local time), ``Enum`` subclasses (matched case-insensitively), nested
dataclasses, and ``tuple[X, ...]`` for lists. ``X | None`` marks an optional element; empty
text counts as absent. A missing mandatory element or an unconvertible value raises
:class:`ManscdpError` naming the element path.

Lookups try the exact tag first and then a case-insensitive match, and fields written under a
parent path are also found directly on the owner, since vendors flatten ``Info`` children.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from sightline.gb28181.manscdp.errors import ManscdpError

__all__ = ["Edition", "Node", "Spec", "decode_object", "encode_into", "format_time", "parse_time"]

T = TypeVar("T")

_UPPER_WORDS = {"id": "ID", "sn": "SN", "ip": "IP", "ptz": "PTZ", "svc": "SVC", "ssvc": "SSVC"}
_UPPER_WORDS["mac"] = "MAC"
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Edition(Enum):
    """Standard edition of the peer, as carried in ``X-GB-Ver``."""

    V2016 = "2.0"
    V2022 = "3.0"

    @classmethod
    def from_version(cls, x_gb_ver: str | None) -> Edition:
        """Map an ``X-GB-Ver`` value; anything but 3.x (or nothing) is treated as 2016."""
        return cls.V2022 if (x_gb_ver or "").strip().startswith("3") else cls.V2016


@dataclass(frozen=True)
class Spec:
    """How one field maps to XML when the naming convention is not enough."""

    tag: str = ""  # "" = derive from the attribute name
    path: tuple[str, ...] = ()
    tag_2022: str | None = None
    path_2022: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    item: str | None = None  # tuple fields: the tag of each entry
    count_attr: str | None = None  # tuple fields: attribute holding the number of entries
    keep_empty: bool = False  # tuple fields: write the wrapper even with no entries
    flag: str | None = None  # bool fields: present with this fixed text means True
    skip: bool = False  # not carried as an element (set by the codec)

    def placement(self, edition: Edition) -> tuple[tuple[str, ...], str]:
        """Where the encoder writes the element for ``edition``."""
        if edition is Edition.V2022:
            path = self.path if self.path_2022 is None else self.path_2022
            return path, self.tag_2022 or self.tag
        return self.path, self.tag

    def candidates(self) -> Iterator[tuple[tuple[str, ...], str]]:
        """Where the decoder looks, most specific first."""
        tags = [self.tag, *([self.tag_2022] if self.tag_2022 else []), *self.aliases]
        paths = [self.path, *([self.path_2022] if self.path_2022 is not None else []), ()]
        for path in dict.fromkeys(paths):
            for tag in tags:
                yield path, tag


def camel(name: str) -> str:
    """``civil_code`` -> ``CivilCode`` with the upper-case words of the module docstring."""
    return "".join(_UPPER_WORDS.get(part, part.capitalize()) for part in name.split("_"))


@dataclass(frozen=True)
class _Binding:
    name: str
    spec: Spec
    kind: Any
    optional: bool
    is_tuple: bool


def _unwrap(hint: Any) -> tuple[Any, bool, bool]:
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
        origin = typing.get_origin(hint)
    if origin is tuple:
        return typing.get_args(hint)[0], optional, True
    return hint, optional, False


_BINDINGS: dict[type, tuple[_Binding, ...]] = {}


def _bindings(cls: type) -> tuple[_Binding, ...]:
    cached = _BINDINGS.get(cls)
    if cached is None:
        cached = _BINDINGS[cls] = _compute_bindings(cls)
    return cached


def _compute_bindings(cls: type) -> tuple[_Binding, ...]:
    specs: dict[str, Spec] = {}
    for klass in reversed(cls.__mro__):
        specs.update(getattr(klass, "XML", {}))
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        spec = specs.get(f.name, Spec())
        if spec.skip:
            continue
        if not spec.tag:
            spec = dataclasses.replace(spec, tag=camel(f.name))
        kind, optional, is_tuple = _unwrap(hints[f.name])
        out.append(_Binding(f.name, spec, kind, optional, is_tuple))
    return tuple(out)


# -- decoding -----------------------------------------------------------------------------------


class Node:
    """An element with indexed children for exact and case-insensitive lookups."""

    __slots__ = ("_exact", "_lower", "_subs", "element")

    def __init__(self, element: ET.Element) -> None:
        self.element = element
        self._exact: dict[str, list[ET.Element]] = {}
        self._lower: dict[str, list[ET.Element]] = {}
        self._subs: dict[str, Node | None] = {}
        for child in element:
            self._exact.setdefault(child.tag, []).append(child)
            self._lower.setdefault(child.tag.lower(), []).append(child)

    def all(self, tag: str) -> list[ET.Element]:
        """Children called ``tag`` (case-insensitively if there is no exact match)."""
        return self._exact.get(tag) or self._lower.get(tag.lower(), [])

    def first(self, tag: str) -> ET.Element | None:
        """The first child called ``tag``, or None."""
        found = self.all(tag)
        return found[0] if found else None

    def text(self, tag: str) -> str | None:
        """The stripped text of the first child called ``tag``; None if absent or empty."""
        child = self.first(tag)
        text = (child.text or "").strip() if child is not None else ""
        return text or None

    def sub(self, tag: str) -> Node | None:
        """The child ``tag`` as a Node (cached)."""
        if tag not in self._subs:
            child = self.first(tag)
            self._subs[tag] = Node(child) if child is not None else None
        return self._subs[tag]

    def descend(self, path: tuple[str, ...]) -> Node | None:
        """Follow ``path`` down from this node."""
        node: Node | None = self
        for tag in path:
            node = node.sub(tag) if node is not None else None
        return node


def parse_time(text: str) -> datetime:
    """Parse an ISO-like device time (``T`` or space, optional fraction and zone) as naive."""
    value = text.strip()
    if "T" not in value and " " in value:
        value = value.replace(" ", "T", 1)
    return datetime.fromisoformat(value).replace(tzinfo=None)


def format_time(value: datetime) -> str:
    """``2024-05-01T12:00:00``; a fraction only when the value has microseconds."""
    naive = value.replace(tzinfo=None)
    return naive.isoformat(timespec="seconds" if naive.microsecond == 0 else "microseconds")


def _convert(kind: Any, text: str, where: str) -> Any:
    if kind is str:
        return text
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
        raise ManscdpError(f"not a 0/1 flag: {text[:40]!r}", field=where)
    if kind is int:
        if not _INT.fullmatch(text):
            raise ManscdpError(f"not an integer: {text[:40]!r}", field=where)
        return int(text)
    if kind is float:
        if not _FLOAT.fullmatch(text):
            raise ManscdpError(f"not a number: {text[:40]!r}", field=where)
        return float(text)
    if kind is datetime:
        try:
            return parse_time(text)
        except ValueError:
            raise ManscdpError(f"not a date-time: {text[:40]!r}", field=where) from None
    if isinstance(kind, type) and issubclass(kind, Enum):
        for member in kind:
            if str(member.value).lower() == text.lower():
                return member
        raise ManscdpError(f"unexpected value {text[:40]!r}", field=where)
    raise TypeError(f"unsupported field type {kind!r}")  # pragma: no cover - a model bug


def _find(node: Node, spec: Spec) -> ET.Element | None:
    for path, tag in spec.candidates():
        container = node.descend(path)
        found = container.first(tag) if container is not None else None
        if found is not None:
            return found
    return None


def _decode_value(kind: Any, element: ET.Element, where: str) -> Any:
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return decode_object(kind, element, where)
    text = (element.text or "").strip()
    return _convert(kind, text, where) if text else None


def _decode_binding(b: _Binding, node: Node, where: str) -> Any:
    element = _find(node, b.spec)
    path = f"{where}/{b.spec.tag}" if where else b.spec.tag
    if b.is_tuple:
        if element is None:
            return ()
        entries = Node(element).all(b.spec.item or "Item")
        values = (
            _decode_value(b.kind, e, f"{path}/{b.spec.item}[{i}]") for i, e in enumerate(entries, 1)
        )
        return tuple(v for v in values if v is not None)
    if b.spec.flag is not None:
        if element is None:
            return False
        text = (element.text or "").strip()
        if text.lower() != b.spec.flag.lower():
            raise ManscdpError(f"expected {b.spec.flag!r}, got {text[:40]!r}", field=path)
        return True
    value = _decode_value(b.kind, element, path) if element is not None else None
    if value is None and not b.optional:
        raise ManscdpError("missing mandatory element", field=path)
    return value


def decode_object(cls: type[T], element: ET.Element, where: str = "") -> T:
    """Build a model of type ``cls`` from ``element`` (raises ManscdpError)."""
    node = Node(element)
    values = {b.name: _decode_binding(b, node, where) for b in _bindings(cls)}
    return cls(**values)


def decode_fields(cls: type, node: Node, where: str = "") -> dict[str, Any]:
    """Decode the bound fields of ``cls`` from ``node`` without constructing it."""
    return {b.name: _decode_binding(b, node, where) for b in _bindings(cls)}


# -- encoding -----------------------------------------------------------------------------------


def _format(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ManscdpError(f"cannot encode non-finite number {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        return format_time(value)
    # Characters XML cannot carry are dropped rather than producing a body peers reject.
    return _FORBIDDEN_CHARS.sub("", str(value))


def _container(element: ET.Element, path: tuple[str, ...]) -> ET.Element:
    for tag in path:
        found = element.find(tag)
        element = found if found is not None else ET.SubElement(element, tag)
    return element


def _encode_value(parent: ET.Element, tag: str, value: Any, edition: Edition) -> None:
    child = ET.SubElement(parent, tag)
    if dataclasses.is_dataclass(value):
        encode_into(value, child, edition)
    else:
        child.text = _format(value)


def encode_into(obj: Any, element: ET.Element, edition: Edition) -> None:
    """Append the elements for every bound field of ``obj`` to ``element``."""
    for b in _bindings(type(obj)):
        value = getattr(obj, b.name)
        if value is None or (b.spec.flag is not None and not value):
            continue
        if b.is_tuple and not value and not b.spec.keep_empty:
            continue
        path, tag = b.spec.placement(edition)
        parent = _container(element, path)
        if b.is_tuple:
            wrapper = ET.SubElement(parent, tag)
            if b.spec.count_attr:
                wrapper.set(b.spec.count_attr, str(len(value)))
            for entry in value:
                _encode_value(wrapper, b.spec.item or "Item", entry, edition)
        elif b.spec.flag is not None:
            ET.SubElement(parent, tag).text = b.spec.flag
        else:
            _encode_value(parent, tag, value, edition)
