"""Verbs about staff: log-in, users, groups (mixed into the facade)."""

from __future__ import annotations

from sqlalchemy import select

from engine import identity, login_guard
from engine.errors import InvalidInput
from engine.models import Group, Membership, User
from engine.results import Actor, UserView


class People:
    """Mixed into :class:`engine.facade.Engine`; needs ``self.db`` and ``self.clock``."""

    def authenticate(self, username: str, password: str) -> Actor | None:
        """The actor for a correct username and password, else None."""
        if not username or not password or len(password) > 1024:
            return None
        with self.db.read() as s:
            return identity.check_password(s, username, password)

    def attempt_login(self, username: str, password: str, address: str | None,
                      limits: login_guard.LoginLimits = login_guard.LoginLimits()) -> login_guard.LoginOutcome:
        """A log-in under the shared rate limit (see :mod:`engine.login_guard`): a locked name or
        address is refused without checking the password; a failure is counted, a success
        forgets the name's failures."""
        with self.db.read() as s:
            wait = login_guard.retry_after(s, limits, username, address, self.clock.now())
        if wait:
            return login_guard.LoginOutcome(None, wait)
        actor = self.authenticate(username, password)
        with self.db.write() as s:
            if actor is None:
                login_guard.record_failure(s, limits, username, address, self.clock.now())
            else:
                login_guard.forget_failures(s, username)
        return login_guard.LoginOutcome(actor)

    def actor(self, username: str) -> Actor | None:
        """The active user ``username`` with groups and roles, or None."""
        with self.db.read() as s:
            return identity.actor_for(s, username)

    def groups(self) -> dict[str, str]:
        """Group id → Chinese display name."""
        with self.db.read() as s:
            return identity.group_names(s)

    def users(self, group_id: str | None = None) -> list[UserView]:
        """Active users, optionally only the members of one group, by display name."""
        with self.db.read() as s:
            q = select(User).where(User.active.is_(True)).order_by(User.display_name)
            if group_id:
                q = q.where(User.id.in_(select(Membership.user_id).where(Membership.group_id == group_id)))
            users = list(s.scalars(q))
            members: dict[int, list[str]] = {}
            for user_id, gid in s.execute(select(Membership.user_id, Membership.group_id)):
                members.setdefault(user_id, []).append(gid)
            return [UserView(u.username, u.display_name, tuple(sorted(members.get(u.id, ()))),
                             tuple(r for r in u.roles.split(",") if r), u.phone, u.active) for u in users]

    def create_user(self, username: str, password: str, display_name: str, *, groups: tuple[str, ...] = (),
                    roles: tuple[str, ...] = ("staff",), phone: str | None = None) -> UserView:
        """Add a user with a hashed password.

        :raises InvalidInput: the name is taken, the password too short, or a group unknown
        """
        fields = {}
        if not username or len(username) > 64:
            fields["username"] = "用户名必填，最多 64 个字符"
        if len(password or "") < 8:
            fields["password"] = "密码至少 8 个字符"
        if fields:
            raise InvalidInput("用户信息有误", fields)
        with self.db.write() as s:
            try:
                identity.create_user(s, username, password, display_name, groups=groups, roles=roles, phone=phone)
            except ValueError as exc:
                raise InvalidInput(str(exc), {"username" if "用户名" in str(exc) else "groups": str(exc)}) from None
        return next(u for u in self.users() if u.username == username)

    def ensure_group(self, group_id: str, name: str) -> None:
        with self.db.write() as s:
            if s.get(Group, group_id) is None:
                s.add(Group(id=group_id, name=name))
