"""Stream tokens follow the access model: each check re-asks the policy and the logins.

:func:`policy_check` is a ``RevocationCheck`` for :class:`StreamTokens`: it runs when a view
starts and every few seconds while it runs. It refuses (``RevokedToken``) once the login the
token was issued under ended (logout, password reset, disabled account), or once the policy no
longer allows the action on the channel: the grant was revoked or expired, the user lost the
role or moved department, the owner stopped sharing. The check is a pure look-up in the
in-memory snapshot, so it costs microseconds (benchmarks/permission_check.py).
"""

from __future__ import annotations

from sightline.access.actions import Action, Resource
from sightline.access.model import AccessModel
from sightline.access.stream_tokens import RevocationCheck, StreamAction, StreamClaims
from sightline.access.tokens import Revocations, RevokedToken

__all__ = ["STREAM_ACTIONS", "policy_check"]

STREAM_ACTIONS: dict[StreamAction, Action] = {
    StreamAction.LIVE: Action.LIVE,
    StreamAction.PLAYBACK: Action.PLAYBACK,
    StreamAction.DOWNLOAD: Action.EXPORT,
}


def policy_check(model: AccessModel, logins: Revocations | None = None) -> RevocationCheck:
    """A revocation check backed by the access policy (and the login revocations)."""

    def check(claims: StreamClaims) -> None:
        if (
            logins is not None
            and claims.session_id is not None
            and logins.is_revoked(claims.session_id, claims.user_id, claims.issued_at)
        ):
            raise RevokedToken("the login this stream was opened under has ended")
        action = STREAM_ACTIONS[claims.action]
        decision = model.decide_now(claims.user_id, action, Resource.channel(claims.channel_id))
        if not decision.allowed:
            raise RevokedToken(f"access withdrawn: {decision.reason}")

    return check
