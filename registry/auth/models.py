"""People who sign in, the failed sign-ins that rate-limit them, and their personal API tokens."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, utcnow
from registry.enums import Role


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20, values_callable=lambda e: e.values()))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped on password or role change; part of the login id, so old sessions die.
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}"

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>"

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


class LoginFailure(Base):
    """One failed sign-in; recent rows per account and per address drive the lockout."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ApiToken(Base):
    """A personal token for the JSON API: it acts as its user, with the user's role and object
    permissions.  Only the SHA-256 of the token is stored (the token itself is shown once, when
    it is created); ``prefix`` is its first characters, to tell tokens apart in lists."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_on: Mapped[date | None]  # the last day it works; None: until revoked
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")

    def usable(self, today: date) -> bool:
        return self.revoked_at is None and (self.expires_on is None or self.expires_on >= today)
