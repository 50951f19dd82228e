"""Creating accounts and signing in, with rate limiting and audit events."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import LoginFailure, User
from registry.auth.passwords import dummy_verify, hash_password, password_problems, verify_password
from registry.auth.permissions import can_manage_users, require
from registry.db import utcnow
from registry.enums import Role
from registry.errors import Conflict, NotFound, RateLimited, ValidationFailed


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _user_view(user: User) -> dict:
    return {"email": user.email, "name": user.name, "role": user.role.value, "active": user.is_active}


def create_user(
    session: Session,
    actor: User | None,
    *,
    email: str,
    name: str,
    role: str | Role,
    password: str,
    password_hash: str | None = None,
    now: datetime | None = None,
) -> User:
    """Create an account.  ``actor`` None means an operator at the console (the CLI).
    ``now`` dates it (the demo replays past work); default: the clock."""
    if actor is not None:
        require(can_manage_users(actor), "Only admins manage users.")
    errors: dict[str, list[str]] = {}
    email = normalise_email(email)
    if "@" not in email or len(email) > 254 or " " in email:
        errors["email"] = ["Enter a valid email address."]
    if not (name or "").strip():
        errors["name"] = ["Enter the person's name."]
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = [f"Role must be one of: {', '.join(Role.values())}."]
    if password_hash is None and (problems := password_problems(password or "")):
        errors["password"] = problems
    if errors:
        raise ValidationFailed("The account could not be created.", errors=errors)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"An account for {email} already exists.", errors={"email": ["This email is taken."]})
    user = User(email=email, name=name.strip(), role=role, password_hash=password_hash or hash_password(password))
    if now is not None:
        user.created_at = now
    session.add(user)
    session.flush()
    record_event(session, actor, "user.create", "user", user.id, summary=f"Created account {email}", after=_user_view(user),
                 at=now)
    return user


def update_user(session: Session, actor: User, user_id: int, *, role: str | None = None, active: bool | None = None) -> User:
    require(can_manage_users(actor), "Only admins manage users.")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    before = _user_view(user)
    if role is not None:
        try:
            new_role = Role(role)
        except ValueError as exc:
            raise ValidationFailed("Unknown role.", errors={"role": ["Choose a role from the list."]}) from exc
        # Nobody changes their own role (so the last active admin can never be demoted: a
        # demotion is always by another active admin, who stays).
        if new_role is not user.role and user.id == actor.id:
            raise ValidationFailed("Nobody changes their own role: ask another admin.",
                                   errors={"role": ["Nobody changes their own role: ask another admin."]})
        user.role = new_role
    if active is not None:
        if user.id == actor.id and not active:
            raise ValidationFailed("You cannot deactivate your own account.")
        user.is_active = active
    if _user_view(user) != before:
        user.session_epoch += 1  # sign the person out everywhere
        record_event(session, actor, "user.update", "user", user.id, summary=f"Updated account {user.email}",
                     before=before, after=_user_view(user))
    return user


def lockout_window(minutes: int):
    return utcnow() - timedelta(minutes=minutes)


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    address: str,
    max_failures: int = 5,
    max_failures_per_address: int = 20,
    lockout_minutes: int = 15,
    help_contact: str = "",
) -> User:
    """Return the user for good credentials; record and rate-limit failures.  The last attempt
    before a lockout says so; a lockout names whom to ask (``help_contact``, the ADMIN_CONTACT setting).

    The caller commits in both cases: a failure raises after its audit event is added,
    so the view must commit before re-raising (see ``auth.views.login``).
    """
    email = normalise_email(email)
    since = lockout_window(lockout_minutes)
    by_account = session.scalar(select(func.count()).where(LoginFailure.email == email, LoginFailure.at >= since))
    by_address = session.scalar(select(func.count()).where(LoginFailure.address == address, LoginFailure.at >= since))
    if by_account >= max_failures or by_address >= max_failures_per_address:
        record_event(session, None, "login.blocked", "user", email, summary=f"Sign-in blocked for {email}",
                     address=address, actor_label=email)
        raise RateLimited(f"Too many failed sign-ins. Try again in {lockout_minutes} minutes, or ask "
                          f"{help_contact or 'an administrator of the registry'} for help.")
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash, password) if user else (dummy_verify(password) or False)
    if not ok or not user.is_active:
        session.add(LoginFailure(email=email, address=address))
        record_event(session, None, "login.failed", "user", email, summary=f"Failed sign-in for {email}",
                     address=address, actor_label=email)
        left = max_failures - by_account - 1  # counted by the email given, whether or not it has an account
        if left == 1:
            raise ValidationFailed("Email or password is not correct. One more failed attempt locks sign-in for "
                                   f"{lockout_minutes} minutes.")
        if left <= 0:
            raise ValidationFailed(f"Email or password is not correct. Sign-in is now locked for {lockout_minutes} "
                                   f"minutes; ask {help_contact or 'an administrator of the registry'} for help.")
        raise ValidationFailed("Email or password is not correct.")
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    user.last_login_at = utcnow()
    record_event(session, user, "login.success", "user", user.id, summary=f"{user.email} signed in", address=address)
    return user


def record_logout(session: Session, user: User, address: str) -> None:
    """Sign out on the server: the epoch bump ends every session cookie issued to ``user`` so far
    (a cookie saved before signing out no longer works), then audit it."""
    user.session_epoch += 1
    record_event(session, user, "logout", "user", user.id, summary=f"{user.email} signed out", address=address)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.name)))
