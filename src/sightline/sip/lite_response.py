"""The lite scan of responses: the plain UDP answers a client receives, read in one pass.

A simulated fleet (and a platform querying its devices) receives the same short responses over
and over: a 401 with a challenge, a 200 to a REGISTER or a MESSAGE. Each carries a Via with a
new branch and a From with a new tag, so the full parser's memoised Via/From parses rarely
hit. ``scan_response`` reads such a datagram into the
:class:`~sightline.sip.message.Response` that :func:`~sightline.sip.parser.parse_message`
would return, plus the client transaction key it belongs to, checking the core fields with one
regular expression each; it is a pure function.

It is a strict subset of ``parse_message``: it returns None, and the caller takes the full
path, for anything it was not written for — a body, leading CRLFs, folded lines, non-ASCII
bytes, a version spelled other than ``SIP/2.0``, a repeated core field, more than one Via hop,
a Via other than ``SIP/2.0/UDP`` with only ``branch`` (RFC 3261 cookie), ``rport`` and
``received`` parameters, From/To outside the plain ``<sip:user@host>`` form, a Content-Length
other than 0. What it accepts, the full parser reads into an equal Response with the same
``client_key`` (``tests/sip/test_lite_response.py`` checks it with generated messages).
"""

from __future__ import annotations

from dataclasses import dataclass

from sightline.sip.errors import SipParseError
from sightline.sip.headers import Headers
from sightline.sip.lite import (
    _CALL_ID,
    _CSEQ,
    _MAX_CSEQ,
    _NAME_ADDR,
    _VIA,
    MAX_LITE_BYTES,
    head_lines,
)
from sightline.sip.message import Response
from sightline.sip.parser import Limits, _field_name
from sightline.sip.transaction import MAGIC_COOKIE, TransactionKey

__all__ = ["LiteResponse", "scan_response"]

_PREFIX = b"SIP/2.0 "
_CORE = frozenset(("Via", "From", "To", "Call-ID", "CSeq", "Content-Length"))
_VIA_PARAMS = frozenset(("branch", "rport", "received"))


@dataclass(frozen=True, slots=True)
class LiteResponse:
    """A response as the lite scan read it, and the client transaction key it matches."""

    response: Response
    key: TransactionKey


def scan_response(data: bytes, limits: Limits) -> LiteResponse | None:
    """Read a plain UDP response, or return None for anything else (see the module doc)."""
    if not data.startswith(_PREFIX) or len(data) > min(MAX_LITE_BYTES, limits.max_message_bytes):
        return None
    if len(data) - 4 > limits.max_header_bytes:  # the head is the whole datagram
        return None
    lines = head_lines(data, limits)
    if lines is None:
        return None
    code, _, reason = lines[0][len(_PREFIX) :].partition(" ")
    if not (len(code) == 3 and code.isdigit() and 100 <= int(code) <= 699):
        return None
    fields: list[tuple[str, str]] = []
    core: dict[str, str] = {}
    for line in lines[1:]:
        raw_name, colon, raw_value = line.partition(":")
        if not colon or line[0] in " \t":
            return None  # folding, or not a field: the full path says what is wrong
        try:
            name = _field_name(raw_name)
        except SipParseError:
            return None
        value = raw_value.strip(" \t")
        if name in _CORE:
            if name in core:
                return None
            core[name] = value
        fields.append((name, value))
    key = _client_key(core)
    if key is None:
        return None
    if "Content-Length" not in core:
        fields.append(("Content-Length", "0"))
    return LiteResponse(Response(int(code), reason, Headers.from_canonical(fields)), key)


def _client_key(core: dict[str, str]) -> TransactionKey | None:
    """The key of the core fields, or None when one is outside the plain forms."""
    if core.get("Content-Length", "0") != "0":
        return None
    via = _VIA.fullmatch(core.get("Via", ""))
    cseq = _CSEQ.fullmatch(core.get("CSeq", ""))
    if (
        via is None
        or cseq is None
        or int(cseq.group(1)) > _MAX_CSEQ
        or _NAME_ADDR.fullmatch(core.get("From", "")) is None
        or _NAME_ADDR.fullmatch(core.get("To", "")) is None
        or _CALL_ID.fullmatch(core.get("Call-ID", "")) is None
    ):
        return None
    port = via.group(2)
    if port is not None and not 0 < int(port) < 65536:
        return None
    branch = ""
    seen: set[str] = set()
    for param in via.group(3)[1:].split(";"):
        name, _, value = param.partition("=")
        if name not in _VIA_PARAMS or name in seen:
            return None
        seen.add(name)
        if name == "branch":
            branch = value
    if not branch.startswith(MAGIC_COOKIE):
        return None  # RFC 2543 matching: the full path
    return TransactionKey(cseq.group(2), branch)
