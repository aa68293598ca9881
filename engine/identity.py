"""Staff users and groups: the BPMN lanes people work in, and their roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.models import Group, Membership, User
from engine.results import Actor

STANDARD_GROUPS = {
    "customer_service": "客服",
    "dispatcher": "调度",
    "technician": "技术员",
    "tech_supervisor": "技术主管",
    "warehouse": "仓库",
    "call_center": "回访",
    "settlement_auditor": "结算审核",
    "finance": "财务",
    "service_advisor": "服务顾问",
    "workshop_lead": "班组长",
    "washer": "洗车",
    "security": "保安",
    "project_manager": "项目经理",
    "install_lead": "售后负责人",
    "admin": "管理员",
    "analyst": "流程分析员",
}
ROLES = ("staff", "admin", "analyst")


def group_names(s: Session) -> dict[str, str]:
    return {g.id: g.name for g in s.scalars(select(Group))}


def ensure_standard_groups(s: Session) -> int:
    """Create the groups of the domain that are missing; return how many were added."""
    existing = group_names(s)
    added = 0
    for gid, name in STANDARD_GROUPS.items():
        if gid not in existing:
            s.add(Group(id=gid, name=name))
            added += 1
    return added


def actor_for(s: Session, username: str) -> Actor | None:
    user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None:
        return None
    groups = frozenset(s.scalars(select(Membership.group_id).where(Membership.user_id == user.id)))
    roles = frozenset(r for r in user.roles.split(",") if r)
    return Actor(user.username, groups, roles)


def create_user(s: Session, username: str, password: str, display_name: str, *,
                groups: tuple[str, ...] = (), roles: tuple[str, ...] = ("staff",), phone: str | None = None) -> User:
    """Add a user with a hashed password to ``groups``.

    :raises ValueError: the username is taken or a group is unknown
    """
    if s.scalars(select(User).where(User.username == username)).first() is not None:
        raise ValueError(f"用户名 {username} 已存在")
    known = group_names(s)
    for g in groups:
        if g not in known:
            raise ValueError(f"未知的员工组 {g}")
    user = User(username=username, display_name=display_name, password_hash=generate_password_hash(password),
                roles=",".join(roles), phone=phone)
    s.add(user)
    s.flush()
    for g in groups:
        s.add(Membership(user_id=user.id, group_id=g))
    return user


def check_password(s: Session, username: str, password: str) -> Actor | None:
    user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None or not check_password_hash(user.password_hash, password):
        return None
    return actor_for(s, username)
