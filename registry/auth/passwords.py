"""Password hashing with argon2id at OWASP ASVS strength (v4.0.3 2.4.x / OWASP cheat sheet).

The default, 64 MiB memory, 3 iterations, parallelism 4, is above the OWASP minimum of
19 MiB / 2 iterations / 1.  Tests may lower the cost through ``configure(cheap=True)``;
production config never does.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

STRONG = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
_CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_hasher = STRONG

MIN_LENGTH = 12
MAX_LENGTH = 128


def configure(*, cheap: bool) -> None:
    global _hasher
    _hasher = _CHEAP if cheap else STRONG


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problems(password: str) -> list[str]:
    """ASVS 2.1: at least 12 characters, at most 128, nothing else imposed."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    return problems


# A hash to verify against when the account does not exist, so timing does not reveal it.
_DUMMY_HASH: str | None = None


def dummy_verify(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash("not-a-real-password")
    verify_password(_DUMMY_HASH, password)
