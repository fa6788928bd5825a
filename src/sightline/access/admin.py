"""Administration of departments, users and channel ownership.

Routers call ``authorize`` on the target first (e.g. ``MANAGE`` on the parent department);
these methods check what only the whole request shows (a department admin may not hand out
the system admin role, a department may not be moved under itself) and raise
:class:`InvalidAccessChange` (422) or :class:`Forbidden` (403). Each change reloads the
access snapshot before it returns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from sightline.access.actions import Forbidden, InvalidAccessChange, Principal
from sightline.access.model import AccessModel
from sightline.access.policy import (
    administered,
    is_system_admin,
    manages_user,
    region_prefix_of,
)
from sightline.access.service import AuthService
from sightline.access.snapshot import AccessSnapshot
from sightline.store import Database, NotFoundError, User
from sightline.store.models.access import ROOT_DEPARTMENT_ID, Classification, Role, Sharing
from sightline.store.repositories.access import (
    AccessRepository,
    ChannelOwnership,
    Department,
    Member,
)

__all__ = ["AccessAdmin", "check_region_prefix"]

log = logging.getLogger(__name__)

_PREFIX = re.compile(r"^(\d{2}|\d{4}|\d{6}|\d{8})$")
_PRIVILEGED = frozenset({Role.SYSTEM_ADMIN, Role.AUDITOR})


def check_region_prefix(prefix: str | None, within: str | None) -> None:
    """Raise unless ``prefix`` is a civil code (2/4/6/8 digits) inside ``within``.

    ``None`` is always fine: the department then inherits the prefix of the one above.
    """
    if prefix is None:
        return
    if not _PREFIX.match(prefix):
        raise InvalidAccessChange(f"region prefix {prefix!r} is not a 2, 4, 6 or 8 digit code")
    if within is not None and not prefix.startswith(within):
        raise InvalidAccessChange(f"region prefix {prefix} does not lie within {within}")


class AccessAdmin:
    """Departments, users and channel ownership."""

    def __init__(self, database: Database, auth: AuthService) -> None:
        self._db = database
        self._auth = auth
        self.model: AccessModel = auth.access

    async def _member(self, principal: Principal) -> Member | None:
        return (await self.model.current()).members.get(principal.user_id)

    async def _require_admin_of(self, principal: Principal, department_id: int) -> None:
        snap = await self.model.current()
        if department_id not in snap.departments:
            raise NotFoundError("department", department_id)
        mine = administered(snap, snap.members.get(principal.user_id))
        if mine is not None and department_id not in mine:
            raise Forbidden(f"department {department_id} is not one you administer")

    # -- departments -----------------------------------------------------------------------

    async def departments(self, principal: Principal) -> list[Department]:
        """Every department (names and structure are not secret)."""
        snap = await self.model.current()
        return sorted(snap.departments.values(), key=lambda d: d.id)

    async def create_department(
        self, principal: Principal, name: str, parent_id: int, region_prefix: str | None
    ) -> Department:
        """Add a department under ``parent_id``."""
        await self._require_admin_of(principal, parent_id)
        snap = await self.model.current()
        check_region_prefix(region_prefix, region_prefix_of(snap, parent_id))
        async with self._db.session() as session:
            created = await AccessRepository(session).create_department(
                name, parent_id, region_prefix, self.model.now()
            )
        await self.model.refresh()
        log.info("department %r (%d) created by %r", name, created.id, principal.username)
        return created

    async def update_department(
        self,
        principal: Principal,
        department_id: int,
        name: str,
        parent_id: int | None,
        region_prefix: str | None,
    ) -> Department:
        """Rename, move or rescope a department; the admin of its (old and new) parent may."""
        snap = await self.model.current()
        current = snap.departments.get(department_id)
        if current is None:
            raise NotFoundError("department", department_id)
        if department_id == ROOT_DEPARTMENT_ID:
            if parent_id is not None:
                raise InvalidAccessChange("the root department has no parent")
            if not is_system_admin(snap.members.get(principal.user_id)):
                raise Forbidden("only a system administrator changes the root department")
        else:
            if parent_id is None:
                raise InvalidAccessChange("every department but the root has a parent")
            if snap.in_subtree(parent_id, department_id):
                raise InvalidAccessChange("a department cannot move below itself")
            for above in {current.parent_id, parent_id}:
                if above is not None:
                    await self._require_admin_of(principal, above)
            check_region_prefix(region_prefix, region_prefix_of(snap, parent_id))
        async with self._db.session() as session:
            await AccessRepository(session).update_department(
                department_id, name, parent_id, region_prefix
            )
        snap = await self.model.refresh()
        return snap.departments[department_id]

    async def delete_department(self, principal: Principal, department_id: int) -> None:
        """Remove an empty department (no users, sub-departments or channels)."""
        snap = await self.model.current()
        current = snap.departments.get(department_id)
        if current is None:
            raise NotFoundError("department", department_id)
        if current.parent_id is None:
            raise InvalidAccessChange("the root department cannot be deleted")
        await self._require_admin_of(principal, current.parent_id)
        async with self._db.session() as session:
            repo = AccessRepository(session)
            if await repo.department_in_use(department_id):
                raise InvalidAccessChange(
                    "the department still has users, sub-departments or channels"
                )
            await repo.delete_department(department_id)
        await self.model.refresh()

    # -- users -----------------------------------------------------------------------------

    async def users(self, principal: Principal) -> list[Member]:
        """The users the principal administers (everyone for a system admin)."""
        snap = await self.model.current()
        mine = administered(snap, snap.members.get(principal.user_id))
        return [m for m in snap.members.values() if mine is None or m.department_id in mine]

    async def _check_roles(self, principal: Principal, roles: Iterable[Role]) -> frozenset[Role]:
        wanted = frozenset(roles)
        if not wanted:
            raise InvalidAccessChange("give the user at least one role")
        if wanted & _PRIVILEGED and not is_system_admin(await self._member(principal)):
            raise Forbidden("only a system administrator gives the system_admin or auditor role")
        return wanted

    async def create_user(
        self,
        principal: Principal,
        *,
        username: str,
        password: str,
        display_name: str,
        department_id: int,
        roles: Iterable[Role],
    ) -> User:
        """Add a user to a department the principal administers."""
        await self._require_admin_of(principal, department_id)
        wanted = await self._check_roles(principal, roles)
        try:
            user = await self._auth.create_user(
                username,
                password,
                is_admin=False,
                display_name=display_name,
                department_id=department_id,
                roles=wanted,
            )
        except ValueError as exc:
            raise InvalidAccessChange(str(exc)) from None
        log.info(
            "user %r created in department %d by %r", username, department_id, principal.username
        )
        return user

    async def update_user(
        self,
        principal: Principal,
        user_id: int,
        *,
        department_id: int | None = None,
        roles: Iterable[Role] | None = None,
        disabled: bool | None = None,
    ) -> Member:
        """Move a user, change their roles, or disable/enable them."""
        snap = await self.model.current()
        member = snap.members.get(user_id)
        if member is None:
            raise NotFoundError("user", user_id)
        if user_id == principal.user_id and (disabled or roles is not None):
            raise InvalidAccessChange("you cannot disable yourself or change your own roles")
        target = department_id if department_id is not None else member.department_id
        if target is None:
            raise InvalidAccessChange("give the user a department")
        self._require_manager_of(snap, principal, member)
        await self._require_admin_of(principal, target)
        if department_id is not None or roles is not None:
            wanted = await self._check_roles(
                principal, roles if roles is not None else member.roles
            )
            async with self._db.session() as session:
                await AccessRepository(session).set_membership(user_id, target, wanted)
            await self.model.refresh()
        if disabled is not None:
            await self._auth.set_disabled(user_id, disabled)
        return (await self.model.refresh()).members[user_id]

    async def reset_password(self, principal: Principal, user_id: int, password: str) -> None:
        """Set a new password; the user's sessions and streams end."""
        snap = await self.model.current()
        member = snap.members.get(user_id)
        if member is None:
            raise NotFoundError("user", user_id)
        self._require_manager_of(snap, principal, member)
        await self._auth.set_password(user_id, password)

    @staticmethod
    def _require_manager_of(snap: AccessSnapshot, principal: Principal, member: Member) -> None:
        """Raise unless the principal may change ``member`` (see ``policy.manages_user``)."""
        if member.user_id == principal.user_id:
            return  # their own password or department move; roles and disabling are refused
        if not manages_user(snap, snap.members.get(principal.user_id), member):
            raise Forbidden(
                f"user {member.username!r} is managed by a system admin "
                "or an admin of a department above theirs"
            )

    # -- channel ownership -----------------------------------------------------------------

    async def ownership(self, channel_id: str) -> ChannelOwnership:
        """A channel's ownership (the root department's if never set)."""
        return (await self.model.current()).owner_of(channel_id)

    async def set_ownership(
        self,
        principal: Principal,
        channel_id: str,
        *,
        department_id: int,
        classification: Classification,
        sharing: Sharing,
    ) -> ChannelOwnership:
        """Give a channel to a department the principal administers, classify it, share it."""
        await self._require_admin_of(principal, department_id)
        if classification is Classification.DEPARTMENT_PRIVATE and sharing is not Sharing.NONE:
            raise InvalidAccessChange("department-private channels are not shared by default")
        row = ChannelOwnership(
            channel_id=channel_id,
            department_id=department_id,
            classification=classification,
            sharing=sharing,
            updated_at=self.model.now(),
        )
        async with self._db.session() as session:
            await AccessRepository(session).set_ownership(row)
        await self.model.refresh()
        return row
