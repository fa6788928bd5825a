"""A self-signed certificate for the demo's HTTPS, made with ``cryptography``.

Production sites configure ``http.tls_cert``/``http.tls_key`` with a certificate from their
own CA; ``sightline demo --https`` calls :func:`ensure_self_signed`, which keeps one
certificate in ``data_dir`` and makes a new one only when it is missing or about to expire.
The key file is written readable by the owner only.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CERT_FILE", "KEY_FILE", "ensure_self_signed"]

log = logging.getLogger(__name__)

CERT_FILE = "https-cert.pem"
KEY_FILE = "https-key.pem"
_VALID = timedelta(days=365)
_RENEW_BEFORE = timedelta(days=30)


def _still_good(cert_path: Path, now: datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - now > _RENEW_BEFORE


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in dict.fromkeys(["localhost", "127.0.0.1", "::1", *hosts]):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def ensure_self_signed(data_dir: Path, hosts: list[str] | None = None) -> tuple[Path, Path]:
    """The demo certificate and key in ``data_dir`` (created when missing or expiring)."""
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    now = datetime.now(UTC)
    if key_path.is_file() and _still_good(cert_path, now):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sightline demo")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.SubjectAlternativeName(_names(hosts or [])), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("self-signed HTTPS certificate written to %s", cert_path)
    return cert_path, key_path
