"""SIP over TLS through a whole ``sightline serve``: configured, listening, answering; a TLS
port without a certificate is refused at start with the setting to fix."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from tests.e2e.server import ServerError, free_port, start_sightline

pytestmark = pytest.mark.e2e


def _options(port: int) -> bytes:
    return (
        f"OPTIONS sip:34020000002000000001@127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 127.0.0.1:5061;rport;branch=z9hG4bKtlsprobe1\r\n"
        "From: <sip:34020000001320000001@3402000000>;tag=t1\r\n"
        "To: <sip:34020000002000000001@3402000000>\r\n"
        "Call-ID: tls-probe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_serve_answers_sip_over_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    tls_port = free_port(socket.SOCK_STREAM)
    data = tmp_path / "data"
    data.mkdir()
    server = start_sightline(
        data,
        env={
            "SIGHTLINE_SIP__TLS_PORT": str(tls_port),
            "SIGHTLINE_SIP__TLS_CERT": str(cert_file),
            "SIGHTLINE_SIP__TLS_KEY": str(key_file),
        },
    )
    try:
        announced = f"SIP TLS 127.0.0.1:{tls_port}"
        deadline = time.monotonic() + 10  # the lines after "listening:" come a moment later
        while not any(announced in line for line in server.stdout_lines):
            assert time.monotonic() < deadline, server.stdout_lines
            time.sleep(0.02)
        context = ssl.create_default_context()
        ca.configure_trust(context)
        with (
            socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(_options(tls_port))
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = tls.recv(4096)
                assert chunk, "connection closed before an answer"
                answer += chunk
        assert answer.startswith(b"SIP/2.0 200"), answer[:200]
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []


def test_a_tls_port_without_a_certificate_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ServerError) as refused:
        start_sightline(
            tmp_path, env={"SIGHTLINE_SIP__TLS_PORT": str(free_port(socket.SOCK_STREAM))}
        )
    assert "sip.tls_port needs sip.tls_cert and sip.tls_key" in str(refused.value)
