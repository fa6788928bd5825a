"""The demo's self-signed HTTPS certificate."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from sightline.access.tls import CERT_FILE, KEY_FILE, ensure_self_signed


def test_certificate_names_the_hosts_and_the_key_is_private(tmp_path: Path) -> None:
    cert_path, key_path = ensure_self_signed(tmp_path, ["192.0.2.7", "cams.example"])
    assert (cert_path.name, key_path.name) == (CERT_FILE, KEY_FILE)
    assert key_path.stat().st_mode & 0o077 == 0
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("192.0.2.7") in names.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert {"localhost", "cams.example"} <= set(names.get_values_for_type(x509.DNSName))


def test_a_good_certificate_is_kept_and_a_broken_one_replaced(tmp_path: Path) -> None:
    cert_path, _ = ensure_self_signed(tmp_path)
    first = cert_path.read_bytes()
    assert ensure_self_signed(tmp_path)[0].read_bytes() == first
    cert_path.write_text("not a certificate")
    assert ensure_self_signed(tmp_path)[0].read_bytes() not in (first, b"not a certificate")
