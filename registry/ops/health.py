"""Readiness checks: the database answers, its Alembic revision is the head of migrations/, Redis
answers PING when configured.  Each check reports, never raises."""

from __future__ import annotations

from functools import cache

from alembic.script import ScriptDirectory
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import Engine

from registry.migrate import alembic_config

REDIS_TIMEOUT_SECONDS = 0.25


@cache
def head_revisions() -> frozenset[str]:
    """The head(s) of migrations/, read once per process (the files do not change while it runs)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def check_database(engine: Engine) -> dict[str, str]:
    """``{"database": …, "migrations": …}``: "ok", or what is wrong."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                current = frozenset(conn.scalars(text("SELECT version_num FROM alembic_version")))
            except Exception:  # noqa: BLE001 - no alembic_version table: never migrated
                return {"database": "ok", "migrations": "not migrated (no alembic_version table)"}
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        return {"database": f"unreachable ({type(exc).__name__})", "migrations": "not checked"}
    try:
        heads = head_revisions()
    except Exception as exc:  # noqa: BLE001
        return {"database": "ok", "migrations": f"head unknown ({type(exc).__name__})"}
    if current != heads:
        return {"database": "ok", "migrations": f"at {', '.join(sorted(current)) or 'nothing'}, "
                                                f"head is {', '.join(sorted(heads))}"}
    return {"database": "ok", "migrations": "ok"}


def redis_client(redis_url: str) -> Redis:
    """A client that gives up quickly: a probe or a scrape must not hang on a dead Redis."""
    return Redis.from_url(redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                          socket_timeout=REDIS_TIMEOUT_SECONDS)


def check_redis(redis_url: str | None) -> str:
    if not redis_url:
        return "not configured"
    try:
        redis_client(redis_url).ping()
    except Exception as exc:  # noqa: BLE001
        return f"unreachable ({type(exc).__name__})"
    return "ok"


PASSING = {"ok", "not configured"}


def readiness(engine: Engine, redis_url: str | None) -> tuple[bool, dict]:
    """(ready, body): the body names every check and, when not ready, the failed ones."""
    checks = {**check_database(engine), "redis": check_redis(redis_url)}
    failed = [name for name, result in checks.items() if result not in PASSING]
    body = {"status": "not ready" if failed else "ready", "checks": checks}
    if failed:
        body["failed"] = failed
    return not failed, body
