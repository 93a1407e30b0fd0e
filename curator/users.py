"""Accounts, roles, passwords (argon2id) and API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from curator.errors import AuthError, ConflictError, InvalidInput, NotFoundError
from curator.permissions import ROLES, SYSTEM, Actor, require
from curator.store import Store
from curator.store import users as sql

__all__ = [
    "User", "create_user", "get_user", "list_users", "authenticate", "set_role", "set_disabled",
    "reset_password", "create_token", "user_for_token", "ensure_user", "MIN_PASSWORD_LENGTH",
]

MIN_PASSWORD_LENGTH = 8
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime
    has_password: bool

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.name, self.role)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "name": self.name, "role": self.role, "disabled": self.disabled,
            "created_at": self.created_at.isoformat(), "has_password": self.has_password,
        }


def _row_to_user(row) -> User:
    return User(row[0], row[1], row[2], bool(row[4]), row[5], row[3] is not None)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")


def create_user(store: Store, actor: Actor, name: str, role: str, password: str | None = None) -> User:
    """Create a user. Only admins may (the first admin is created by the operator: SYSTEM)."""
    require(actor, "manage_users")
    name = name.strip()
    if not _NAME_RE.match(name):
        raise InvalidInput(
            f"invalid user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    _check_role(role)
    if password is not None:
        _check_password(password)
    with store.locked_transaction() as cur:
        if sql.get_by_name(cur, name):
            raise ConflictError(f"user {name!r} already exists")
        uid = sql.insert_user(cur, name, role, _hasher.hash(password) if password else None)
        return _row_to_user(sql.get_by_id(cur, uid))


def ensure_user(store: Store, name: str, role: str = "annotator") -> User:
    """The user ``name``, created without a password if missing (bulk annotation imports)."""
    cur = store.cursor()
    row = sql.get_by_name(cur, name)
    if row:
        return _row_to_user(row)
    return create_user(store, SYSTEM, name, role)


def get_user(store: Store, name_or_id: str | int) -> User:
    cur = store.cursor()
    if isinstance(name_or_id, int):
        row = sql.get_by_id(cur, name_or_id)
    else:
        row = sql.get_by_name(cur, name_or_id)
    if not row:
        raise NotFoundError(f"no user {name_or_id!r}; `curator users list` shows who exists")
    return _row_to_user(row)


def list_users(store: Store, actor: Actor | None = None) -> list[User]:
    """All users. Any logged-in user may see names and roles (for assignment and the login list)."""
    return [_row_to_user(r) for r in sql.list_users(store.cursor())]


def authenticate(store: Store, name: str, password: str) -> User:
    """The user, if ``password`` is right and the account is enabled; else ``AuthError``."""
    row = sql.get_by_name(store.cursor(), name.strip())
    bad = AuthError("wrong user name or password")
    if not row or row[3] is None:
        _hasher.hash("timing-equaliser")  # same cost whether or not the user exists
        raise bad
    try:
        _hasher.verify(row[3], password)
    except (VerificationError, InvalidHashError):
        raise bad from None
    if row[4]:
        raise AuthError(f"account {name!r} is disabled; ask an admin")
    if _hasher.check_needs_rehash(row[3]):
        with store.transaction() as cur:
            sql.set_password_hash(cur, row[0], _hasher.hash(password))
    return _row_to_user(row)


def set_role(store: Store, actor: Actor, name: str, role: str) -> User:
    require(actor, "manage_users")
    _check_role(role)
    with store.locked_transaction() as cur:
        user = get_user(store, name)
        if user.role == "admin" and role != "admin" and sql.count_users(cur, "admin") <= 1:
            raise ConflictError("cannot demote the last admin; make another user admin first")
        sql.set_role(cur, user.id, role)
    return get_user(store, name)


def set_disabled(store: Store, actor: Actor, name: str, disabled: bool = True) -> User:
    require(actor, "manage_users")
    with store.locked_transaction() as cur:
        user = get_user(store, name)
        if disabled and user.role == "admin" and sql.count_users(cur, "admin") <= 1:
            raise ConflictError("cannot disable the last admin")
        sql.set_disabled(cur, user.id, disabled)
        if disabled:
            sql.revoke_user_web_sessions(cur, user.id)   # no browser stays logged in
    return get_user(store, name)


def reset_password(store: Store, actor: Actor, name: str, password: str) -> User:
    """Admins reset anyone's password; a user may change their own."""
    user = get_user(store, name)
    if actor.id != user.id:
        require(actor, "manage_users")
    _check_password(password)
    with store.transaction() as cur:
        sql.set_password_hash(cur, user.id, _hasher.hash(password))
        sql.revoke_user_web_sessions(cur, user.id)   # browsers log in again with the new one
    return get_user(store, name)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, actor: Actor, name: str, token_name: str = "cli") -> str:
    """A new API token for user ``name``; only its sha256 is stored. Returned once."""
    user = get_user(store, name)
    if actor.id != user.id:
        require(actor, "manage_users")
    token = "cur_" + secrets.token_urlsafe(32)
    with store.transaction() as cur:
        sql.insert_token(cur, user.id, token_name, _token_hash(token))
    return token


def user_for_token(store: Store, token: str) -> User:
    row = sql.user_for_token(store.cursor(), _token_hash(token.strip()))
    if not row:
        raise AuthError("API token not recognised (revoked, or for another database)")
    user = _row_to_user(row)
    if user.disabled:
        raise AuthError(f"account {user.name!r} is disabled")
    return user
