"""NAT traversal rules for responses: RFC 3261 §18.2.1/§18.2.2 with RFC 3581 ``rport``.

A device behind NAT sends from an address it does not know; the server records the real
source in the top Via (``received``, and ``rport`` when the device asked for it) and answers
there, so the NAT binding the request opened carries the response back.
"""

from __future__ import annotations

import ipaddress

from sightline.sip.fields import Via, remember_via
from sightline.sip.headers import split_list
from sightline.sip.message import Message, Response

__all__ = ["response_target", "same_host", "stamp_received"]


def same_host(via_host: str, source_host: str) -> bool:
    """True when a Via's host names the source address (the same IP, however spelled)."""
    host = via_host[1:-1] if via_host.startswith("[") else via_host
    if host == source_host:
        return True
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(source_host)
    except ValueError:
        return False


def stamp_received(request: Message, source_host: str, source_port: int) -> None:
    """Add ``received``/``rport`` to the top Via as RFC 3261/3581 require.

    Also applied to responses built from unparsable requests, so they go back to the source.
    """
    first = request.headers.get("Via")
    if first is None:
        return
    hops = _split_first_hop(first)
    via = Via.parse(hops[0])
    changed = via
    if via.param("rport") is not None:
        changed = changed.with_param("rport", str(source_port))
        changed = changed.with_param("received", source_host)
    elif not same_host(via.host, source_host) or via.param("received") is not None:
        # a ``received`` the sender wrote itself is replaced by the real source
        changed = changed.with_param("received", source_host)
    if changed is via:
        return
    stamped = str(changed)
    remember_via(stamped, changed)
    new_first = stamped if len(hops) == 1 else f"{stamped}, {hops[1]}"
    request.headers.replace_first("Via", new_first)


def _split_first_hop(field_value: str) -> list[str]:
    hops = split_list(field_value)
    if len(hops) <= 1:
        return hops or [field_value]
    return [hops[0], ", ".join(hops[1:])]


def response_target(response: Response, source: tuple[str, int]) -> tuple[str, int]:
    """Where to send a response over UDP, from its top Via (§18.2.2, RFC 3581 §4)."""
    # The host is always the request's source address (what ``received`` records): never a
    # name or an address taken from the message, which a sender could aim at a third party.
    via = response.top_via
    rport = via.param("rport")
    if rport and rport.isdigit():
        return (source[0], int(rport))
    return (source[0], via.port or 5060)
