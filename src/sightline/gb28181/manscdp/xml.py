"""Sanitising, safe parsing and serialising of MANSCDP XML.

Devices send XML that a strict parser rejects, so text is repaired before parsing:

* BOMs, NULs and other characters XML forbids are removed, as is everything before the first
  ``<`` and after the root's end tag (some devices pad the body with NULs or garbage);
* the prolog is dropped (the text is already decoded; a ``GB2312`` label would confuse expat);
* a bare ``&`` that does not start one of XML's five entities or a character reference becomes
  ``&amp;`` (Hikvision writes ``A&B`` in names);
* unquoted attribute values get quotes (the standard's own examples write ``<DeviceList Num=2>``);
* only if the first parse fails: ``<`` and ``>`` inside free-text leaves such as ``<Address>`` are
  escaped and the text is parsed once more.

Parsing uses defusedxml with DTDs forbidden, so entity expansion (billion laughs) and external
entities are refused with :class:`UnsafeXml`; element count and depth are limited while parsing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from sightline.gb28181.manscdp.errors import LimitExceeded, ManscdpError, UnsafeXml

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "XmlValue",
    "element_to_value",
    "parse",
    "sanitise",
    "serialise",
    "value_to_element",
]

XmlValue: TypeAlias = "str | dict[str, XmlValue] | list[XmlValue]"


@dataclass(frozen=True)
class Limits:
    """Decoder limits; the defaults fit a 10 000-record catalog message with room to spare."""

    max_body_bytes: int = 1 << 20
    max_elements: int = 100_000
    max_depth: int = 32


DEFAULT_LIMITS = Limits()

_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_PROLOG = re.compile(r"^<\?xml[^>]{0,300}\?>")
_ROOT_NAME = re.compile(r"<([A-Za-z_][\w.-]{0,63})")
_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,8}|#x[0-9A-Fa-f]{1,8});)")
_START_TAG = re.compile(r"<([A-Za-z_][\w.:-]{0,63})(\s[^<>]{0,2000}?)(/?)>")
_UNQUOTED_ATTR = re.compile(r"""(\s[A-Za-z_][\w.:-]{0,63})\s*=\s*([^\s"'<>=/]+)""")
# Leaves that hold free text; vendors put unescaped '<' and '>' in them.
_FREE_TEXT = re.compile(
    r"<(Address|Name|DeviceName|AlarmDescription|Reason|PresetName|FilePath|Description|Owner|"
    r"Block|Manufacturer|Model|Firmware|PointCommonName|ManagementUnit|ContactInfo)>"
)
_FREE_TEXT_WINDOW = 1024


def _quote_attributes(match: re.Match[str]) -> str:
    attrs = _UNQUOTED_ATTR.sub(r'\1="\2"', match.group(2))
    return f"<{match.group(1)}{attrs}{match.group(3)}>"


def sanitise(text: str) -> str:
    """Apply the always-safe repairs listed in the module docstring."""
    text = _FORBIDDEN_CHARS.sub("", text).lstrip("\ufeff \t\r\n")
    text = _PROLOG.sub("", text).lstrip()
    start = text.find("<")
    if start < 0:
        raise ManscdpError("the body contains no XML element")
    text = text[start:]
    root = _ROOT_NAME.match(text)
    if root:
        end = text.rfind(f"</{root.group(1)}")
        close = text.find(">", end) if end >= 0 else -1
        if close >= 0:
            text = text[: close + 1]
    text = _BARE_AMP.sub("&amp;", text)
    return _START_TAG.sub(_quote_attributes, text)


def _escape_free_text(text: str) -> str:
    """Escape '<' and '>' inside free-text leaves (the retry repair)."""
    out: list[str] = []
    pos = 0
    for match in _FREE_TEXT.finditer(text):
        if match.start() < pos:
            continue
        close_tag = f"</{match.group(1)}>"
        close = text.find(close_tag, match.end(), match.end() + _FREE_TEXT_WINDOW)
        if close < 0:
            continue
        body = text[match.end() : close].replace("<", "&lt;").replace(">", "&gt;")
        out.append(text[pos : match.end()])
        out.append(body)
        pos = close
    out.append(text[pos:])
    return "".join(out)


class _LimitedBuilder:
    """TreeBuilder target that enforces the element-count and depth limits while parsing."""

    def __init__(self, limits: Limits) -> None:
        self._builder = ET.TreeBuilder()
        self._limits = limits
        self._count = 0
        self._depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self._count += 1
        self._depth += 1
        if self._count > self._limits.max_elements:
            raise LimitExceeded(f"more than {self._limits.max_elements} elements")
        if self._depth > self._limits.max_depth:
            raise LimitExceeded(f"elements nested deeper than {self._limits.max_depth}")
        # Namespaced tags ("{uri}Item") are matched by their local name.
        return self._builder.start(tag.rpartition("}")[2], attrs)

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        return self._builder.end(tag.rpartition("}")[2])

    def data(self, text: str) -> None:
        self._builder.data(text)

    def close(self) -> ET.Element:
        return self._builder.close()


def _parse_once(text: str, limits: Limits) -> ET.Element:
    parser = DefusedXMLParser(target=_LimitedBuilder(limits), forbid_dtd=True)
    try:
        parser.feed(text)
        root: ET.Element = parser.close()
    except DefusedXmlException as exc:
        raise UnsafeXml(f"refused unsafe XML construct: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise ManscdpError(f"malformed XML: {exc}") from None
    return root


def parse(text: str, limits: Limits = DEFAULT_LIMITS) -> ET.Element:
    """Sanitise and parse decoded text into an element tree (raises ManscdpError)."""
    clean = sanitise(text)
    try:
        return _parse_once(clean, limits)
    except (UnsafeXml, LimitExceeded):
        raise
    except ManscdpError:
        repaired = _escape_free_text(clean)
        if repaired == clean:
            raise
        return _parse_once(repaired, limits)


def serialise(root: ET.Element) -> str:
    """One element per line, no indentation, no prolog (the codec writes it with the charset)."""
    ET.indent(root, space="")
    return ET.tostring(root, encoding="unicode")


def element_to_value(element: ET.Element) -> XmlValue:
    """Turn an element into plain data: text for leaves, dicts for parents, lists for repeats.

    Attributes appear as ``"@name"`` keys; a leaf with attributes keeps its text under ``"#text"``.
    """
    children = list(element)
    text = (element.text or "").strip()
    if not children and not element.attrib:
        return text
    out: dict[str, XmlValue] = {f"@{k}": v for k, v in element.attrib.items()}
    if not children and text:
        out["#text"] = text
    for child in children:
        value = element_to_value(child)
        previous = out.get(child.tag)
        if previous is None:
            out[child.tag] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[child.tag] = [previous, value]
    return out


def value_to_element(parent: ET.Element, tag: str, value: XmlValue) -> None:
    """Append ``value`` (as produced by :func:`element_to_value`) under ``parent`` as ``tag``."""
    if isinstance(value, list):
        for entry in value:
            value_to_element(parent, tag, entry)
        return
    child = ET.SubElement(parent, tag)
    if isinstance(value, str):
        child.text = value
        return
    fill_element(child, value)


def fill_element(element: ET.Element, value: Mapping[str, XmlValue]) -> None:
    """Write a dict from :func:`element_to_value` into ``element``'s attributes and children."""
    for key, entry in value.items():
        if key == "#text" and isinstance(entry, str):
            element.text = entry
        elif key.startswith("@") and isinstance(entry, str):
            element.set(key[1:], entry)
        else:
            value_to_element(element, key, entry)
