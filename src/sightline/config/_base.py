"""What every settings section shares: the strict, frozen base and the value checks."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_gb_id(value: str, digits: int, what: str) -> str:
    """``value`` if it is a GB/T 28181 ID of ``digits`` digits, else ValueError naming ``what``."""
    if len(value) != digits or not value.isdigit():
        raise ValueError(f"{what} must be exactly {digits} digits, got {value!r}")
    return value


def check_ip(value: str, what: str) -> str:
    """``value`` if it is an IP address, else ValueError naming ``what``."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{what} must be an IP address (e.g. 0.0.0.0), got {value!r}") from None
    return value
