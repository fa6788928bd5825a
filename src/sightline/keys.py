"""Secrets that sightline generates once and keeps in ``data_dir``.

A fresh installation must work without hand-written secrets, yet must never run with a
well-known default password.  So the first start generates the device password (unless
configured), the initial admin password (unless configured) and a server key used to sign
digest nonces and stream tokens, stores them in ``<data_dir>/secrets.json`` (mode 0600) and
prints the passwords once.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sightline.errors import ConfigError

__all__ = ["GeneratedSecrets", "load_or_create_secrets"]

_FILE_NAME = "secrets.json"


@dataclass(frozen=True)
class GeneratedSecrets:
    """The secrets of one installation; ``created`` is True on the start that made them."""

    device_password: str
    admin_password: str
    server_key: bytes
    created: bool


def _new_password() -> str:
    # Devices often accept only short alphanumeric passwords: 12 letters and digits.
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def load_or_create_secrets(data_dir: Path) -> GeneratedSecrets:
    """Read ``secrets.json`` from data_dir, creating it (and data_dir) when missing."""
    path = data_dir / _FILE_NAME
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return GeneratedSecrets(
                device_password=str(raw["device_password"]),
                admin_password=str(raw["admin_password"]),
                server_key=bytes.fromhex(str(raw["server_key"])),
                created=False,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path} is unreadable or damaged ({exc}); restore it from a backup or delete it "
                "to generate new secrets (devices then need the new password)"
            ) from None
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create data_dir {data_dir}: {exc}") from None
    made = GeneratedSecrets(_new_password(), _new_password(), secrets.token_bytes(32), True)
    payload = {
        "device_password": made.device_password,
        "admin_password": made.admin_password,
        "server_key": made.server_key.hex(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    return made
