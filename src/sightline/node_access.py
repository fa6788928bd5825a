"""A node's access services (grants, requests, webhooks) and the upkeep they need every second."""

from __future__ import annotations

import asyncio
import logging

from sightline.access.approvals import ApprovalPolicy
from sightline.access.audit import AuditLog
from sightline.access.notify import WebhookSettings
from sightline.access.service import AuthService
from sightline.access.services import AccessServices, build_access_services
from sightline.access.stream_tokens import StreamTokens
from sightline.config import Settings
from sightline.store.db import Database

__all__ = ["access_housekeeping", "start_access"]

log = logging.getLogger(__name__)


def start_access(
    settings: Settings,
    database: Database,
    auth: AuthService,
    *,
    stream_tokens: StreamTokens | None,
    audit: AuditLog | None,
) -> AccessServices:
    """The access services, with their webhook notifier started."""
    access = settings.access
    secret = access.webhook_secret
    services = build_access_services(
        database,
        auth,
        stream_tokens=stream_tokens,
        webhooks=WebhookSettings(
            urls=tuple(access.webhook_urls),
            secret=secret.get_secret_value().encode() if secret is not None else b"",
            timeout_s=access.webhook_timeout_s,
            retries=access.webhook_retries,
        ),
        approvals=ApprovalPolicy(
            sensitive_approvals=access.sensitive_approvals,
            pending_ttl_s=access.request_pending_ttl_s,
        ),
        audit=audit,
    )
    services.notifier.start()
    return services


async def access_housekeeping(
    access: AccessServices, auth: AuthService, *, grant_expiry_warning_s: float
) -> None:
    """Reload the snapshot when stale; expire requests; warn of and audit ending grants."""
    ticks = 0
    while True:
        await asyncio.sleep(1.0)
        try:
            await auth.access.current()
            if ticks % 5 == 0:
                await access.grants.record_expired()
            if ticks % 30 == 0:
                await access.requests.expire_overdue()
                await access.grants.warn_expiring(grant_expiry_warning_s)
        except Exception:
            log.exception("access housekeeping failed")
        ticks += 1
