"""The access services of one node, built together (``Node`` and test apps use this)."""

from __future__ import annotations

from dataclasses import dataclass

from sightline.access.admin import AccessAdmin
from sightline.access.approvals import ApprovalPolicy, RequestService
from sightline.access.audit_events import AuditSink
from sightline.access.grants import GrantService
from sightline.access.notify import Notifier, WebhookSettings
from sightline.access.service import AuthService
from sightline.access.stream_policy import policy_check
from sightline.access.stream_tokens import StreamTokens
from sightline.store import Database

__all__ = ["AccessServices", "build_access_services"]


@dataclass(frozen=True, slots=True)
class AccessServices:
    """Administration, grants, requests and notifications."""

    admin: AccessAdmin
    grants: GrantService
    requests: RequestService
    notifier: Notifier


def build_access_services(
    database: Database,
    auth: AuthService,
    *,
    stream_tokens: StreamTokens | None = None,
    webhooks: WebhookSettings | None = None,
    approvals: ApprovalPolicy | None = None,
    audit: AuditSink | None = None,
) -> AccessServices:
    """Wire the services; stream tokens then follow the policy (see ``stream_policy``)."""
    notifier = Notifier(database, webhooks or WebhookSettings())
    grants = GrantService(database, auth.access, notifier, stream_tokens=stream_tokens, audit=audit)
    requests = RequestService(
        database, auth.access, grants, notifier, policy=approvals or ApprovalPolicy(), audit=audit
    )
    if stream_tokens is not None:
        stream_tokens.add_revocation_check(policy_check(auth.access, auth.revocations))
    return AccessServices(AccessAdmin(database, auth), grants, requests, notifier)
