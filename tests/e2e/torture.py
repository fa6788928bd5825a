"""Senders for the public SIP torture suites in ``shared/conformance``.

* RFC 4475: raw messages; the sent-by of the top Via (of every Via, for responses) is rewritten
  to the sender's loopback socket so that any reply comes back to it and nothing leaves
  127.0.0.1.
* PROTOS c07-sip: files of frames ``<decimal length><SP><PDU>`` whose PDUs carry placeholders
  (``<To>``, ``<From-Address>``, ``<Content-Length>``...) substituted here.

Usable from tests and standalone: ``python -m tests.e2e.torture --port 5060``.
"""

from __future__ import annotations

import argparse
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CONFORMANCE",
    "TortureReport",
    "options_ping",
    "protos_cases",
    "read_frames",
    "rewrite_vias",
    "run_protos",
    "run_rfc4475",
    "substitute",
]

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
UDP_MAX = 65507


def read_frames(data: bytes) -> list[bytes]:
    """Split a PROTOS case file into its PDUs."""
    frames = []
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        start = space + 1
        frames.append(data[start : start + length])
        pos = start + length
        while pos < len(data) and data[pos : pos + 1] in (b"\r", b"\n"):
            pos += 1
    return frames


def substitute(
    pdu: bytes, *, host: str, port: int, local_ip: str, local_port: int, case: int, tcp: bool
) -> bytes:
    """Fill the PROTOS placeholders for one case."""
    to = f"34020000002000000001@{host}:{port}".encode()
    out = pdu
    for key, value in (
        (b"<To>", to),
        (b"<From>", f"protos@{local_ip}".encode()),
        (b"<From-Address>", local_ip.encode()),
        (b"<From-IP>", local_ip.encode()),
        (b"<Local-Port>", str(local_port).encode()),
        (b"<Branch-ID>", str(case).encode()),
        (b"<Call-ID>", f"protos{case}".encode()),
        (b"<CSeq>", str(case % 100000 + 1).encode()),
        (b"<Teardown-Method>", b"CANCEL"),
    ):
        out = out.replace(key, value)
    if tcp:
        out = out.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    head, sep, body = out.partition(b"\r\n\r\n")
    return head.replace(b"<Content-Length>", str(len(body)).encode()) + sep + body


# Folded lines are allowed anywhere in a header (wsinv), hence \s* rather than [ \t]*.
_VIA_LINE = re.compile(
    rb"^((?:Via|v)\s*:\s*SIP\s*/\s*\d+\.\d+\s*/\s*)(\S+)(\s+)([^;,\r\n]+)",
    re.IGNORECASE | re.MULTILINE,
)


def rewrite_vias(message: bytes, host: str, port: int) -> bytes:
    """Point the top Via (every Via of a response) at our socket: host:port after the transport."""
    is_response = message.lstrip().startswith(b"SIP/")
    count = 0 if is_response else 1
    return _VIA_LINE.sub(
        lambda m: m.group(1) + m.group(2) + m.group(3) + f"{host}:{port}".encode(),
        message,
        count=count,
    )


def protos_cases(limit: int | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """Yield (case number, frames) for every PROTOS case file."""
    files = sorted((CONFORMANCE / "protos-c07-sip" / "cases").iterdir())
    for path in files[:limit]:
        yield int(path.name), read_frames(path.read_bytes())


@dataclass
class TortureReport:
    """What a run sent and got back."""

    sent: int = 0
    skipped_too_big: int = 0
    responses: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, data: bytes) -> None:
        """Record one received datagram or stream chunk's status line(s)."""
        for m in re.finditer(rb"SIP/2\.0 (\d{3}) ", data):
            self.responses += 1
            status = int(m.group(1))
            self.statuses[status] = self.statuses.get(status, 0) + 1


def _drain_udp(sock: socket.socket, report: TortureReport, wait_s: float) -> None:
    sock.settimeout(wait_s)
    while True:
        try:
            data = sock.recv(70000)
        except (TimeoutError, BlockingIOError, ConnectionRefusedError):
            return
        report.count(data)


def run_protos(host: str, port: int, *, tcp: bool, limit: int | None = None) -> TortureReport:
    """Send every PROTOS case (INVITE then CANCEL) and count the answers."""
    report = TortureReport()
    if not tcp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        local_port = sock.getsockname()[1]
        for case, frames in protos_cases(limit):
            for frame in frames:
                pdu = substitute(
                    frame,
                    host=host,
                    port=port,
                    local_ip="127.0.0.1",
                    local_port=local_port,
                    case=case,
                    tcp=False,
                )
                if len(pdu) > UDP_MAX:
                    report.skipped_too_big += 1
                    continue
                sock.sendto(pdu, (host, port))
                report.sent += 1
            if case % 20 == 0:
                _drain_udp(sock, report, 0.001)
        _drain_udp(sock, report, 0.5)
        sock.close()
        return report
    for case, frames in protos_cases(limit):
        with socket.create_connection((host, port), timeout=5) as conn:
            local_port = conn.getsockname()[1]
            for frame in frames:
                pdu = substitute(
                    frame,
                    host=host,
                    port=port,
                    local_ip="127.0.0.1",
                    local_port=local_port,
                    case=case,
                    tcp=True,
                )
                try:
                    conn.sendall(pdu)
                    report.sent += 1
                except OSError:
                    break  # the server closed a connection whose framing it could not trust
            conn.settimeout(0.02)
            try:
                while data := conn.recv(65536):
                    report.count(data)
            except (TimeoutError, OSError):
                pass
    return report


def run_rfc4475(
    host: str, port: int, *, tcp: bool, expect: Callable[[str], int] | None = None
) -> dict[str, list[int]]:
    """Send each RFC 4475 message on its own socket; return the statuses answered per file.

    ``expect(name)`` is how many different statuses the message should get: the run waits up
    to ``_PATIENCE_S`` for those (a loaded machine answers late, not wrongly), then 0.3 s more
    for any unexpected extra; without it, every message gets 0.3 s."""
    results: dict[str, list[int]] = {}
    for path in sorted((CONFORMANCE / "rfc4475").glob("*.dat")):
        raw = path.read_bytes()
        report = TortureReport()
        want = expect(path.stem) if expect is not None else 0
        if tcp:
            with socket.create_connection((host, port), timeout=5) as conn:
                conn.sendall(rewrite_vias(raw, "127.0.0.1", conn.getsockname()[1]))
                _collect(conn, report, want)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.sendto(rewrite_vias(raw, "127.0.0.1", sock.getsockname()[1]), (host, port))
                _collect(sock, report, want)
        results[path.stem] = sorted(report.statuses)
    return results


_PATIENCE_S = 10.0


def _collect(sock: socket.socket, report: TortureReport, want: int, quiet_s: float = 0.3) -> None:
    """Read answers until ``want`` different statuses came (or ``_PATIENCE_S`` passed), then
    until ``quiet_s`` passes without one; a closed stream ends it too."""
    deadline = time.monotonic() + _PATIENCE_S
    while True:
        waiting = len(report.statuses) < want
        sock.settimeout(max(deadline - time.monotonic(), 0.01) if waiting else quiet_s)
        try:
            data = sock.recv(70000)
        except (TimeoutError, BlockingIOError, ConnectionRefusedError):
            if not waiting or time.monotonic() >= deadline:
                return
            continue
        except OSError:
            return
        if not data:
            return
        report.count(data)


def options_ping(host: str, port: int, *, tcp: bool = False, timeout_s: float = 2.0) -> int | None:
    """Send one OPTIONS and return the status of the answer, or None."""

    def message(local_port: int, transport: str) -> bytes:
        stamp = time.monotonic_ns()
        return (
            f"OPTIONS sip:34020000002000000001@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 127.0.0.1:{local_port};rport;branch=z9hG4bKping{stamp}\r\n"
            f"From: <sip:ping@127.0.0.1>;tag=p{stamp}\r\n"
            f"To: <sip:34020000002000000001@{host}>\r\n"
            f"Call-ID: ping{stamp}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    report = TortureReport()
    if tcp:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.sendall(message(conn.getsockname()[1], "TCP"))
            conn.settimeout(timeout_s)
            try:
                report.count(conn.recv(65536))
            except (TimeoutError, OSError):
                return None
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.sendto(message(sock.getsockname()[1], "UDP"), (host, port))
            _drain_udp(sock, report, timeout_s)
    return min(report.statuses) if report.statuses else None


def main() -> None:
    """Run both suites against a server and print what came back."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--tcp", action="store_true")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit("torture traffic goes to loopback only")
    for name, statuses in run_rfc4475(args.host, args.port, tcp=args.tcp).items():
        print(f"{name:12} {statuses}")
    print(run_protos(args.host, args.port, tcp=args.tcp, limit=args.limit))
    print("OPTIONS after torture:", options_ping(args.host, args.port, tcp=args.tcp))


if __name__ == "__main__":
    main()
