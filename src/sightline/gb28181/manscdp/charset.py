"""Bytes <-> text for MANSCDP bodies.

2016 §6.10 says signalling *should* be GB2312 and 2022 says it *shall* be GB 18030, while many
devices declare one charset in the XML prolog and send another. Decoding therefore:

1. honours a byte-order mark;
2. tries the caller's per-device ``hint`` first (a device known to lie about its charset);
3. otherwise decodes strictly as both UTF-8 and GB 18030 and keeps the one that succeeds. When both
   do, UTF-8 wins if it is declared, or if its non-ASCII characters are mostly CJK even though GB is
   declared: GB text is almost never valid UTF-8 that reads as Chinese, while UTF-8 Chinese read as
   GB always "works" and yields mojibake;
4. as a last resort decodes lossily (U+FFFD for bad bytes) rather than dropping the message.

GB2312 and GBK are decoded as GB 18030, a superset that also fixes rare-character garbling.
"""

from __future__ import annotations

import codecs
import logging
import re

from sightline.gb28181.manscdp.errors import ManscdpError

__all__ = ["declared_encoding", "decode_body", "normalise_charset", "output_codec"]

log = logging.getLogger(__name__)

_GB_NAMES = frozenset({"gb2312", "gbk", "gb18030", "cp936", "euccn", "eucgb2312cn", "xgbk", "936"})
_PROLOG_ENCODING = re.compile(
    rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']?([A-Za-z0-9._:-]{1,40})"""
)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def normalise_charset(name: str) -> str | None:
    """Map a charset label to the Python codec used here; None if unknown.

    Every GB label maps to ``gb18030``; UTF-8 spellings map to ``utf-8``.
    """
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if key in _GB_NAMES or key.startswith("gb2312"):
        return "gb18030"
    if key in ("utf8", "utf"):
        return "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_encoding(body: bytes) -> str | None:
    """The ``encoding=`` label of the XML prolog, if any (not normalised)."""
    match = _PROLOG_ENCODING.match(body.lstrip(b"\x00"))
    return match.group(1).decode("ascii") if match else None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _looks_chinese(text: str) -> bool:
    wide = [ch for ch in text if ord(ch) > 0x7F]
    if not wide:
        return True
    cjk = sum(
        1
        for ch in wide
        if 0x2E80 <= ord(ch) <= 0x9FFF or 0xF900 <= ord(ch) <= 0xFAFF or 0xFF00 <= ord(ch) <= 0xFFEF
    )
    return cjk * 2 >= len(wide)


def decode_body(body: bytes, hint: str | None = None) -> str:
    """Decode a MANSCDP body to text following the rules in the module docstring."""
    if body.startswith(codecs.BOM_UTF8):
        text = _strict(body[3:], "utf-8")
        if text is not None:
            return text
        body = body[3:]
    elif body.startswith(_UTF16_BOMS):
        text = _strict(body, "utf-16")
        if text is not None:
            return text
    if hint:
        codec = normalise_charset(hint)
        text = _strict(body, codec) if codec else None
        if text is not None:
            return text
    return _decode_auto(body)


def _decode_auto(body: bytes) -> str:
    label = declared_encoding(body)
    declared = normalise_charset(label) if label else None
    as_utf8 = _strict(body, "utf-8")
    as_gb = _strict(body, "gb18030")
    if as_utf8 is not None and (declared == "utf-8" or as_gb is None or _looks_chinese(as_utf8)):
        return as_utf8
    if as_gb is not None:
        return as_gb
    # Other declared charsets (Big5, Latin-1...) are only believed when neither usual one fits,
    # because single-byte codecs decode anything and would hide mislabelled GB text.
    if declared not in (None, "utf-8", "gb18030"):
        text = _strict(body, declared)
        if text is not None:
            return text
    log.debug("MANSCDP body is not valid UTF-8 or GB 18030 (declared %s); decoding lossily", label)
    return body.decode("gb18030", errors="replace")


def output_codec(charset: str) -> tuple[str, str]:
    """The Python codec and the prolog label for writing a body in ``charset``.

    Any GB label (``GB2312``, ``GBK``, ``GB18030``) encodes with GB 18030 and declares the label
    the caller asked for, since that is what the device expects to read. GB 18030 is a superset,
    so GB2312 text is byte-identical; characters outside GB2312 (rare names) are written as
    GBK/GB 18030 sequences, which a GB2312-only device shows as garbage instead of the message
    failing here.
    """
    codec = normalise_charset(charset)
    if codec == "gb18030":
        return codec, charset.strip().upper()
    if codec == "utf-8":
        return codec, "UTF-8"
    raise ManscdpError(f"unsupported MANSCDP charset {charset!r} (use GB2312, GB18030 or UTF-8)")
