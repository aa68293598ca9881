"""API bearer tokens (mixed into the facade): create, list, revoke, and the actor a token stands for.

A token is ``pgt_`` plus 32 random bytes (URL-safe base64). Only its sha256 is stored:
the secret is shown once, when it is created. A user's token acts as that user with the
user's groups and roles as they are at each request (a disabled user's tokens stop
working); an integration's token carries its own groups and roles.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, select, update

from engine import identity
from engine.channel_models import ApiToken
from engine.errors import InvalidInput, NotAllowed, NotFound
from engine.models import Event, Membership, User
from engine.results import SYSTEM, Actor

PREFIX = "pgt_"
_TOUCH_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class TokenView:
    id: int
    prefix: str
    name: str
    username: str | None
    integration: str | None
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split(text: str) -> tuple[str, ...]:
    return tuple(sorted(p for p in (text or "").split(",") if p))


def _view(t: ApiToken) -> TokenView:
    return TokenView(t.id, t.prefix, t.name, t.username, t.integration, _split(t.groups), _split(t.roles),
                     t.created_by, t.created_at, t.expires_at, t.last_used_at, t.revoked_at)


class ApiTokens:
    """Mixed into :class:`engine.facade.Engine`; needs ``self.db`` and ``self.clock``."""

    def create_token(self, *, username: str | None = None, integration: str | None = None, name: str = "",
                     groups: tuple[str, ...] = (), roles: tuple[str, ...] = (), expires_at: datetime | None = None,
                     actor: Actor = SYSTEM) -> tuple[TokenView, str]:
        """A new token for the user ``username`` or for the integration ``integration``; (view, secret).

        :raises NotAllowed: the actor is not an admin
        :raises InvalidInput: neither or both owners given, an unknown user or group, an unknown role
        """
        _require_admin(actor)
        if bool(username) == bool(integration):
            raise InvalidInput("请指定用户或集成之一", {"username": "用户和集成二选一"})
        unknown_roles = [r for r in roles if r not in identity.ROLES]
        if unknown_roles:
            raise InvalidInput(f"未知角色 {', '.join(unknown_roles)}", {"roles": "未知角色"})
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        with self.db.write() as s:
            if username:
                if identity.actor_for(s, username) is None:
                    raise InvalidInput(f"用户 {username} 不存在或已停用", {"username": "用户不存在或已停用"})
                groups, roles = (), ()
            else:
                known = identity.group_names(s)
                missing = [g for g in groups if g not in known]
                if missing:
                    raise InvalidInput(f"未知的员工组 {', '.join(missing)}", {"groups": "未知的员工组"})
            token = ApiToken(secret_hash=hash_secret(secret), prefix=secret[:10], name=name or (username or integration),
                             username=username or None, integration=integration or None,
                             groups=",".join(sorted(set(groups))), roles=",".join(sorted(set(roles))),
                             created_by=actor.username, created_at=now, expires_at=expires_at)
            s.add(token)
            s.flush()
            s.add(Event(instance_id=None, at=now, actor=actor.username, kind="api_token_created",
                        data={"token_id": token.id, "username": username, "integration": integration}))
            return _view(token), secret

    def revoke_token(self, token_id: int, *, actor: Actor = SYSTEM) -> TokenView:
        """Stop a token from working (at once, for every process).

        :raises NotFound: no such token
        """
        _require_admin(actor)
        now = self.clock.now()
        with self.db.write() as s:
            token = s.get(ApiToken, token_id)
            if token is None:
                raise NotFound(f"令牌 {token_id} 不存在")
            if token.revoked_at is None:
                token.revoked_at = now
                s.add(Event(instance_id=None, at=now, actor=actor.username, kind="api_token_revoked",
                            data={"token_id": token_id}))
            return _view(token)

    def tokens(self) -> list[TokenView]:
        with self.db.read() as s:
            return [_view(t) for t in s.scalars(select(ApiToken).order_by(ApiToken.id))]

    def actor_for_token(self, secret: str) -> Actor | None:
        """Who a bearer token acts as, or None for an unknown, revoked or expired token.

        Runs on every API request: the token, its user and the user's groups come back in
        one statement (one row per group).
        """
        if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        now = self.clock.now()
        with self.db.read() as s:
            rows = s.execute(_TOKEN_ACTOR, {"h": hash_secret(secret)}).all()
        if not rows:
            return None
        first = rows[0]
        if first.revoked_at is not None or (first.expires_at and first.expires_at <= now):
            return None
        if first.username:
            if first.user_roles is None:  # no such user, or disabled
                return None
            found = Actor(first.username, frozenset(r.group_id for r in rows if r.group_id is not None),
                          frozenset(r for r in first.user_roles.split(",") if r))
        else:
            found = Actor(f"api:{first.integration}", frozenset(_split(first.groups)), frozenset(_split(first.roles)))
        if first.last_used_at is None or first.last_used_at < now - _TOUCH_EVERY:  # a write at most every few minutes
            with self.db.write() as s:
                s.execute(update(ApiToken).where(ApiToken.id == first.id).values(last_used_at=now))
        return found


_TOKEN_ACTOR = (
    select(ApiToken.id, ApiToken.username, ApiToken.integration, ApiToken.groups, ApiToken.roles,
           ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at,
           User.roles.label("user_roles"), Membership.group_id)
    .outerjoin(User, and_(User.username == ApiToken.username, User.active.is_(True)))
    .outerjoin(Membership, Membership.user_id == User.id)
    .where(ApiToken.secret_hash == bindparam("h"))
)


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("需要管理员权限")
