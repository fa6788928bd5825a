"""Access-related command-line helpers: the demo's HTTPS certificate."""

from __future__ import annotations

import argparse

from sightline.config import Settings

__all__ = ["add_demo_arguments", "with_demo_tls"]


def add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    """Add ``--https/--no-https`` to ``sightline demo`` (HTTPS by default)."""
    demo.add_argument(
        "--https",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve HTTPS with a self-signed certificate kept in data_dir, unless "
        "http.tls_cert is configured (default); --no-https serves plain HTTP",
    )


def with_demo_tls(settings: Settings) -> Settings:
    """``settings`` with the demo certificate when no HTTPS certificate is configured."""
    from sightline.access.tls import ensure_self_signed

    if settings.http.tls_cert is not None:
        return settings
    cert, key = ensure_self_signed(settings.data_dir, [settings.http.host])
    http = settings.http.model_copy(update={"tls_cert": cert, "tls_key": key})
    return settings.model_copy(update={"http": http})
