"""How the simulator host reaches the platform: a TCP device's own link, the local address."""

from __future__ import annotations

import socket

from sightline.sip.endpoint import SipEndpoint
from sightline.sip.transport import Peer

__all__ = ["TcpLink", "source_address"]


class TcpLink:
    """One TCP device's endpoint and connection."""

    __slots__ = ("endpoint", "peer")

    def __init__(self, endpoint: SipEndpoint, peer: Peer) -> None:
        self.endpoint = endpoint
        self.peer = peer


def source_address(host: str, port: int) -> str:
    """The local address the OS would use to reach ``host`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, port))
        except OSError:
            return "127.0.0.1"
        return str(probe.getsockname()[0])
