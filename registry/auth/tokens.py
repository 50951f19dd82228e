"""Personal API tokens: created and revoked by their user (or an operator at the console), and
the bearer-token check of the JSON API.

A token is 32 random bytes (``rr_`` + URL-safe base64); only its SHA-256 is stored, so a copy of
the database holds nothing that signs in.  The token acts as its user: the user's role and
object permissions, checked by the same services as the pages.  Creating and revoking a token
are audit events, in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import ApiToken, User
from registry.db import utcnow
from registry.errors import NotFound, PermissionDenied, Unauthorized, ValidationFailed

PREFIX = "rr_"
DISPLAY_CHARS = 10  # "rr_" and the first 7 random characters: enough to tell tokens apart
MAX_TOKENS = 50  # per person, active or not: a list stays readable
TOUCH_EVERY = timedelta(minutes=5)  # last_used_at is written at most this often per token
MAX_DAYS = 3660  # an expiry at most ten years ahead


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _view(token: ApiToken) -> dict:
    return {"name": token.name, "prefix": token.prefix,
            "expires_on": token.expires_on.isoformat() if token.expires_on else None}


def create_token(session: Session, actor: User | None, user: User, name: str, *, expires_on: date | None = None,
                 today: date | None = None, actor_label: str | None = None) -> NewToken:
    """A new token for ``user``; ``actor`` is the user themself (the settings page) or None (an
    operator at the console, ``registry tokens create``)."""
    if actor is not None and actor.id != user.id:
        raise PermissionDenied("People create their own API tokens.")
    if not user.is_active:
        raise ValidationFailed("The account is inactive: it cannot have API tokens.")
    today = today or utcnow().date()
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 100:
        errors["name"] = ["Name the token (at most 100 characters), e.g. after the tool that uses it."]
    if expires_on is not None and expires_on < today:
        errors["expires_on"] = ["The last day must be today or later."]
    elif expires_on is not None and expires_on > today + timedelta(days=MAX_DAYS):
        errors["expires_on"] = ["Choose a last day within ten years."]
    if errors:
        raise ValidationFailed("The token could not be created.", errors=errors)
    count = len(session.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id)).all())
    if count >= MAX_TOKENS:
        raise ValidationFailed(f"At most {MAX_TOKENS} tokens per person: revoke the ones no longer used.")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=secret[:DISPLAY_CHARS], token_hash=hash_token(secret),
                     expires_on=expires_on)
    token.user = user
    session.add(token)
    session.flush()
    record_event(session, actor, "token.create", "api_token", token.id,
                 summary=f"Created API token “{name}” ({token.prefix}…) for {user.email}", after=_view(token),
                 actor_label=actor_label)
    return NewToken(token, secret)


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    """The user's tokens (every token with ``user`` None: the console), newest first."""
    stmt = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return list(session.scalars(stmt).unique())


def revoke_token(session: Session, actor: User | None, token_id: int, *, actor_label: str | None = None) -> ApiToken:
    """Revoke a token: its user on the settings page, or an operator at the console (``actor`` None).
    Revoking a revoked token changes nothing."""
    token = session.get(ApiToken, token_id)
    if token is None or (actor is not None and token.user_id != actor.id):
        raise NotFound("There is no such API token.")
    if token.revoked_at is not None:
        return token
    token.revoked_at = utcnow()
    session.flush()
    record_event(session, actor, "token.revoke", "api_token", token.id,
                 summary=f"Revoked API token “{token.name}” ({token.prefix}…) of {token.user.email}",
                 before={"revoked": None}, after={"revoked": token.revoked_at.isoformat(timespec="seconds")},
                 actor_label=actor_label)
    return token


def parse_bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, or Unauthorized."""
    scheme, _, secret = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Send a personal API token: Authorization: Bearer <token> (create one at /settings/tokens).",
                           headers={"WWW-Authenticate": 'Bearer realm="registry"'})
    return secret.strip()


def token_for(session: Session, secret: str, *, today: date | None = None) -> ApiToken:
    """The usable token ``secret`` names, its user active; else Unauthorized (one message for
    every reason a token does not work, so a guess learns nothing)."""
    today = today or utcnow().date()
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or not token.usable(today) or not token.user.is_active:
        raise Unauthorized("The API token is not valid: it is unknown, revoked or expired, or its account is inactive.",
                           headers={"WWW-Authenticate": 'Bearer realm="registry", error="invalid_token"'})
    return token


def needs_touch(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY


def touch_token(session: Session, token_id: int, now: datetime | None = None) -> None:
    """Record that the token was used (not an audit event: what the token changes is audited)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now or utcnow()
