"""The access policy: a pure function of an :class:`AccessSnapshot`, a user, an action, a time.

Rules (docs/decisions.md "Access model" has the reasons):

* A system administrator (role ``system_admin`` or the issue 4 ``is_admin`` flag) may do
  everything. A disabled or unknown user may do nothing.
* Reading the collections (lists are filtered with :func:`visible_channels`), the region and
  group trees and system resources is open to every logged-in user; the audit log
  (``Action.AUDIT``, or anything on ``Resource(SYSTEM, "audit")``) only to auditors.
* Channels: members of the owner department *or of a department above it* may do what their
  roles allow (viewer: live, masked; operator: live, playback, PTZ, catalog refresh; exporter:
  live, playback, export; department admin: all of these plus recording management).
  Everyone else needs a valid grant: to them, or to their department, or to a department
  above theirs when the grant says ``include_subdepartments``. The grant must be within its
  window ``[not_before, not_after)``, cover the channel (the channel itself, a business group
  or virtual organisation containing it, or a civil-code prefix), name the action, and come
  from a department owning the channel (or above it). A department grant gives each member at
  most what their roles allow; a grant to a user is the approved decision itself and is not
  limited by role. Masked-only grants give the masked view and never ``unmasked``.
* A public-security channel shared by its owner (``subtree`` or ``all``) may be watched live,
  masked, by members of the sub-departments or of every department. Department-private
  channels are never shared without a grant.
* Department admins manage their department's subtree: departments below theirs, their users,
  the channels they own (within the department's region prefix, if it has one), grants on
  those channels, and the access requests addressed to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sightline.access.actions import Action, Resource, ResourceKind
from sightline.access.snapshot import AccessSnapshot
from sightline.store.models.access import Classification, GrantAction, Role, ScopeKind, Sharing
from sightline.store.repositories.access import ChannelOwnership, Grant, Member

__all__ = [
    "AUDIT_RESOURCE_ID",
    "ROLE_ACTIONS",
    "Decision",
    "administered",
    "approvers",
    "decide",
    "grant_scope_problem",
    "is_system_admin",
    "manages_user",
    "region_prefix_of",
    "role_actions",
    "visible_channels",
]

_VIDEO = frozenset({Action.LIVE, Action.PLAYBACK, Action.EXPORT, Action.PTZ})
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ, Action.LIVE}),
    Role.OPERATOR: frozenset(
        {
            Action.READ,
            Action.LIVE,
            Action.PLAYBACK,
            Action.PTZ,
            Action.UNMASKED,
            Action.CATALOG_REFRESH,
        }
    ),
    Role.EXPORTER: frozenset(
        {Action.READ, Action.LIVE, Action.PLAYBACK, Action.EXPORT, Action.UNMASKED}
    ),
    Role.DEPARTMENT_ADMIN: frozenset(
        {
            Action.READ,
            Action.LIVE,
            Action.PLAYBACK,
            Action.PTZ,
            Action.EXPORT,
            Action.UNMASKED,
            Action.CATALOG_REFRESH,
            Action.RECORDING_MANAGE,
        }
    ),
    Role.AUDITOR: frozenset(),
    Role.SYSTEM_ADMIN: frozenset(Action),
}
_GRANTABLE: dict[Action, GrantAction] = {
    Action.LIVE: GrantAction.LIVE,
    Action.PLAYBACK: GrantAction.PLAYBACK,
    Action.PTZ: GrantAction.PTZ,
    Action.EXPORT: GrantAction.EXPORT,
}
_OPEN_KINDS = frozenset({ResourceKind.SYSTEM, ResourceKind.REGION, ResourceKind.GROUP})
AUDIT_RESOURCE_ID = "audit"  # Resource(SYSTEM, "audit"): any action on it is auditing


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer; ``masked`` when only the privacy-masked view is allowed."""

    allowed: bool
    reason: str = ""
    grant_id: str | None = None
    masked: bool = False


_ALLOW = Decision(True)


def role_actions(member: Member) -> frozenset[Action]:
    """What the member's roles allow on their own department's channels."""
    out: frozenset[Action] = frozenset()
    for role in member.roles:
        out |= ROLE_ACTIONS[role]
    return out


def is_system_admin(member: Member | None) -> bool:
    """Whether the member may do everything."""
    return member is not None and (member.is_admin or Role.SYSTEM_ADMIN in member.roles)


def administered(snap: AccessSnapshot, member: Member | None) -> frozenset[int] | None:
    """Departments the member administers; ``None`` means all (a system admin)."""
    if is_system_admin(member):
        return None
    if member is None or member.disabled or member.department_id is None:
        return frozenset()
    if Role.DEPARTMENT_ADMIN not in member.roles:
        return frozenset()
    return snap.subtree(member.department_id)


def approvers(snap: AccessSnapshot, department_id: int) -> set[int]:
    """Users who may decide requests to ``department_id``: its admins, those above, sysadmins."""
    above = snap.ancestors.get(department_id, frozenset())
    return {
        m.user_id
        for m in snap.members.values()
        if not m.disabled
        and (is_system_admin(m) or (Role.DEPARTMENT_ADMIN in m.roles and m.department_id in above))
    }


def region_prefix_of(snap: AccessSnapshot, department_id: int | None) -> str | None:
    """The nearest region prefix on the way up from ``department_id`` (None: unlimited)."""
    seen: set[int] = set()
    while department_id is not None and department_id not in seen:
        seen.add(department_id)
        dep = snap.departments.get(department_id)
        if dep is None:
            return None
        if dep.region_prefix:
            return dep.region_prefix
        department_id = dep.parent_id
    return None


def _name(snap: AccessSnapshot, department_id: int | None) -> str:
    dep = snap.departments.get(department_id) if department_id is not None else None
    return dep.name if dep is not None else "no department"


@dataclass(frozen=True, slots=True)
class _View:
    """What the policy needs about one user, indexed once per snapshot."""

    member: Member
    actions: frozenset[Action]
    by_channel: dict[str, list[tuple[Grant, bool]]]
    by_group: dict[str, list[tuple[Grant, bool]]]
    by_region: dict[str, list[tuple[Grant, bool]]]


def _view(snap: AccessSnapshot, member: Member) -> _View:
    found = snap.views.get(member.user_id)
    if isinstance(found, _View) and found.member is member:
        return found
    index: dict[ScopeKind, dict[str, list[tuple[Grant, bool]]]] = {k: {} for k in ScopeKind}
    for grant, personal in _applicable_grants(snap, member):
        index[grant.scope_kind].setdefault(grant.scope_id, []).append((grant, personal))
    view = _View(
        member,
        role_actions(member),
        index[ScopeKind.CHANNEL],
        index[ScopeKind.GROUP],
        index[ScopeKind.REGION],
    )
    snap.views[member.user_id] = view
    return view


def _candidates(snap: AccessSnapshot, view: _View, channel_id: str) -> Iterator[tuple[Grant, bool]]:
    """The user's grants whose scope may cover the channel."""
    yield from view.by_channel.get(channel_id, ())
    if view.by_group:
        for group in snap.channel_groups.get(channel_id, ()):
            yield from view.by_group.get(group, ())
    if view.by_region:
        place = snap.places.get(channel_id)
        civil = place.civil_code if place is not None and place.civil_code else ""
        for n in range(2, len(civil) + 1):
            yield from view.by_region.get(civil[:n], ())


def _applicable_grants(snap: AccessSnapshot, member: Member) -> Iterator[tuple[Grant, bool]]:
    """Grants that apply to the member, each with whether it is a personal grant."""
    for grant in snap.user_grants.get(member.user_id, ()):
        yield grant, True
    dept = member.department_id
    if dept is None:
        return
    for holder in snap.ancestors.get(dept, ()):
        for grant in snap.department_grants.get(holder, ()):
            if holder == dept or grant.include_subdepartments:
                yield grant, False


def _covers(snap: AccessSnapshot, grant: Grant, channel_id: str, owner: ChannelOwnership) -> bool:
    if grant.grantor_department_id not in snap.ancestors.get(owner.department_id, ()):
        return False  # a department only gives away what it (or a department below it) owns
    if grant.scope_kind is ScopeKind.CHANNEL:
        return grant.scope_id == channel_id
    if grant.scope_kind is ScopeKind.GROUP:
        if grant.scope_id not in snap.channel_groups.get(channel_id, ()):
            return False
        prefix = region_prefix_of(snap, grant.grantor_department_id)
        if prefix is None:
            return True
        place = snap.places.get(channel_id)  # a group grows: never past the grantor's region
        return bool(place and place.civil_code and place.civil_code.startswith(prefix))
    place = snap.places.get(channel_id)
    return bool(place and place.civil_code and place.civil_code.startswith(grant.scope_id))


def grant_scope_problem(
    snap: AccessSnapshot, admin: Member | None, grantor: int, scope_kind: ScopeKind, scope_id: str
) -> str | None:
    """Why ``admin`` may not give a grant on this scope from ``grantor`` (None: they may).

    Region-scoped administration: a department admin only gives away channels they manage,
    so a business group (or virtual organisation) must lie wholly within the region of the
    admin's department and of the grantor, and every channel of it the grantor owns must be
    one the admin manages. System admins are not limited; channel and region scopes are
    checked where they are created (``MANAGE`` on the channel, the grantor's region prefix).
    """
    if scope_kind is not ScopeKind.GROUP or is_system_admin(admin) or admin is None:
        return None
    prefixes = {
        p
        for p in (region_prefix_of(snap, admin.department_id), region_prefix_of(snap, grantor))
        if p is not None
    }
    given = snap.ancestors
    for channel_id in snap.group_channels.get(scope_id, ()):
        place = snap.places.get(channel_id)
        civil = (place.civil_code if place is not None else None) or ""
        outside = [p for p in prefixes if not civil.startswith(p)]
        if outside:
            return f"group {scope_id} covers channel {channel_id} outside region {outside[0]}"
        owner = snap.owner_of(channel_id).department_id
        if grantor in given.get(owner, ()) and not _manages_channel(snap, admin, channel_id):
            return f"group {scope_id} covers channel {channel_id}, which you do not administer"
    return None


def _grant_allows(grant: Grant, action: Action) -> bool:
    if action is Action.READ:
        return bool(grant.actions)
    if action is Action.UNMASKED:
        return not grant.masked_only and bool(grant.actions)
    wanted = _GRANTABLE.get(action)
    return wanted is not None and wanted.value in grant.actions


def _by_grant(
    snap: AccessSnapshot, member: Member, action: Action, channel_id: str, now: datetime
) -> Decision | None:
    owner = snap.owner_of(channel_id)
    view = _view(snap, member)
    mine = view.actions
    masked: Decision | None = None
    for grant, personal in _candidates(snap, view, channel_id):
        if not grant.not_before <= now < grant.not_after:
            continue
        if not personal and not (action in mine or (action is Action.READ and mine & _VIDEO)):
            continue
        if not _grant_allows(grant, action) or not _covers(snap, grant, channel_id, owner):
            continue
        if not grant.masked_only:
            return Decision(True, grant_id=grant.id)
        masked = masked or Decision(True, grant_id=grant.id, masked=True)
    return masked


def _by_sharing(snap: AccessSnapshot, member: Member, action: Action, channel_id: str) -> bool:
    owner = snap.owner_of(channel_id)
    if owner.classification is not Classification.PUBLIC_SECURITY:
        return False
    if action not in (Action.READ, Action.LIVE) or Action.LIVE not in role_actions(member):
        return False
    if owner.sharing is Sharing.ALL:
        return True
    return owner.sharing is Sharing.SUBTREE and snap.in_subtree(
        member.department_id, owner.department_id
    )


def _manages_channel(snap: AccessSnapshot, member: Member, channel_id: str) -> bool:
    mine = administered(snap, member)
    owner = snap.owner_of(channel_id)
    if mine is None:
        return True
    if owner.department_id not in mine:
        return False
    prefix = region_prefix_of(snap, member.department_id)
    if prefix is None:
        return True
    place = snap.places.get(channel_id)
    return bool(place and place.civil_code and place.civil_code.startswith(prefix))


def _channel(
    snap: AccessSnapshot, member: Member, action: Action, channel_id: str, now: datetime
) -> Decision:
    if action is Action.MANAGE:
        if _manages_channel(snap, member, channel_id):
            return _ALLOW
        return Decision(False, f"managing channel {channel_id} needs an admin of its owner")
    owner = snap.owner_of(channel_id)
    mine = _view(snap, member).actions
    if member.department_id in snap.ancestors.get(owner.department_id, ()) and action in mine:
        return Decision(True, masked=Action.UNMASKED not in mine)
    granted = _by_grant(snap, member, action, channel_id, now)
    if granted is not None:
        return granted
    if _by_sharing(snap, member, action, channel_id):
        return Decision(True, masked=True)
    return Decision(
        False,
        f"{member.username} ({_name(snap, member.department_id)}) may not {action} channel "
        f"{channel_id} of {_name(snap, owner.department_id)}: no role or valid grant covers it; "
        "ask for access with POST /api/v1/access-requests",
    )


def _device(
    snap: AccessSnapshot, member: Member, action: Action, device_id: str, now: datetime
) -> Decision:
    channels = snap.device_channels.get(device_id, ())
    wanted = Action.READ if action is Action.READ else action
    for channel_id in channels or ("",):
        # A device without channels counts as the root department's.
        if _channel(snap, member, wanted, channel_id, now).allowed:
            return _ALLOW
    return Decision(False, f"{member.username} may not {action} device {device_id}")


def _department(
    snap: AccessSnapshot, member: Member, action: Action, target: str | None
) -> Decision:
    if action is Action.READ:
        return _ALLOW
    mine = administered(snap, member)
    if target is not None and target.isdigit() and mine is not None and int(target) in mine:
        return _ALLOW
    return Decision(False, f"{action} on department {target} needs an admin of it or above it")


def _user(snap: AccessSnapshot, member: Member, action: Action, target: str | None) -> Decision:
    if target is None:
        if action is Action.READ and (administered(snap, member) or is_system_admin(member)):
            return _ALLOW
        return Decision(False, "listing users needs a department or system admin")
    if action is Action.READ and target == str(member.user_id):
        return _ALLOW
    other = snap.members.get(int(target)) if target.isdigit() else None
    if other is None:
        return Decision(False, f"{action} on user {target} needs an admin of their department")
    if action is Action.READ:
        mine = administered(snap, member)
        if mine is not None and other.department_id in mine and not is_system_admin(other):
            return _ALLOW
        return Decision(False, f"{action} on user {target} needs an admin of their department")
    if manages_user(snap, member, other):
        return _ALLOW
    return Decision(False, f"{action} on user {target} needs an admin of a department above theirs")


def manages_user(snap: AccessSnapshot, admin: Member | None, other: Member) -> bool:
    """Whether ``admin`` may change ``other`` (roles, department, password, disabled).

    A system admin changes anyone. A department admin changes the users of their subtree,
    but never a system admin or an auditor (only a system admin gives those roles: resetting
    an auditor's password would read the audit log), and another department admin only in a
    department strictly below their own: peers (and admins above) cannot take each other over.
    """
    if is_system_admin(admin):
        return True
    mine = administered(snap, admin)
    if admin is None or mine is None or other.department_id not in mine:
        return False
    if other.user_id == admin.user_id:
        return True  # themselves: the service refuses own role changes and self-disabling
    if is_system_admin(other) or Role.AUDITOR in other.roles:
        return False
    return Role.DEPARTMENT_ADMIN not in other.roles or other.department_id != admin.department_id


def decide(
    snap: AccessSnapshot, user_id: int, action: Action, resource: Resource, now: datetime
) -> Decision:
    """Whether ``user_id`` may do ``action`` on ``resource`` at ``now``, and why not."""
    member = snap.members.get(user_id)
    if member is None or member.disabled:
        return Decision(False, "the account is unknown or disabled")
    if is_system_admin(member):
        return _ALLOW
    kind, target = resource.kind, resource.id
    if kind in _OPEN_KINDS:
        if action is Action.AUDIT or (kind is ResourceKind.SYSTEM and target == AUDIT_RESOURCE_ID):
            if Role.AUDITOR in member.roles:
                return _ALLOW
            return Decision(False, "the audit log is for auditors and system administrators")
        if action is Action.READ:
            return _ALLOW
        return Decision(False, f"{action} on {kind} needs a system administrator")
    if kind is ResourceKind.DEPARTMENT:
        return _department(snap, member, action, target)
    if kind is ResourceKind.USER:
        return _user(snap, member, action, target)
    if target is None:
        if action is Action.READ:
            return _ALLOW  # lists are filtered with visible_channels
        return Decision(False, f"{action} on every {kind} needs a system administrator")
    if kind is ResourceKind.DEVICE:
        return _device(snap, member, action, target, now)
    return _channel(snap, member, action, target, now)


def visible_channels(snap: AccessSnapshot, user_id: int, now: datetime) -> frozenset[str] | None:
    """The channel IDs the user may read; ``None`` means every channel."""
    member = snap.members.get(user_id)
    if member is None or member.disabled:
        return frozenset()
    if is_system_admin(member):
        return None
    view = _view(snap, member)
    candidates: set[str] = set(snap.shared_channels)
    if member.department_id is not None and view.actions & _VIDEO:
        for dep_id in snap.subtree(member.department_id):
            candidates.update(snap.department_channels.get(dep_id, ()))
    candidates.update(view.by_channel)
    for group in view.by_group:
        candidates.update(snap.group_channels.get(group, ()))
    if view.by_region:
        prefixes = tuple(view.by_region)
        candidates.update(
            p.id for p in snap.places.values() if p.civil_code and p.civil_code.startswith(prefixes)
        )
    return frozenset(c for c in candidates if _channel(snap, member, Action.READ, c, now).allowed)
