"""Engine, session factory and declarative base shared by the app, the CLI and the tests.

SQLite is the embedded default.  To keep "database is locked" out of concurrent writes it
runs in WAL mode with a busy timeout, and every transaction that may write starts with
``BEGIN IMMEDIATE``: the write lock is taken up front (waiting up to the busy timeout)
instead of being upgraded mid-transaction, the case SQLite cannot resolve by waiting.
Read-only requests use deferred transactions and never wait on writers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Enum, MetaData, create_engine, event, func, select, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use registry.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


def enum_column(cls) -> Enum:
    """A LabelledEnum stored as its value in a VARCHAR (no native enum: vocabularies grow)."""
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: e.values(), validate_strings=True)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is broken).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = "IMMEDIATE" if conn.get_execution_options().get("registry_write", True) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


SETTINGS = "registry.settings"


def make_session_factory(engine: Engine, settings: dict[str, Any]) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """Return (write, read) session factories; they differ only in SQLite's BEGIN mode.

    ``settings`` (e.g. ``evidence_max_age_days``) travel in every session's ``info``, so that
    services, session hooks and the CLI read the one configured value without Flask."""
    info = {SETTINGS: dict(settings)}
    write = sessionmaker(bind=engine, expire_on_commit=False, info=info)
    read = sessionmaker(bind=engine.execution_options(registry_write=False), expire_on_commit=False, info=info)
    return write, read


def setting(session: Session, name: str) -> Any:
    """A configured value carried by the session (see ``make_session_factory``)."""
    try:
        return session.info[SETTINGS][name]
    except KeyError:
        raise RuntimeError(f"setting {name!r} missing: sessions must come from make_session_factory") from None


def evidence_max_age_days(session: Session) -> int:
    """EVIDENCE_MAX_AGE_DAYS: evidence collected longer ago than this is stale."""
    return int(setting(session, "evidence_max_age_days"))


def analyze(engine: Engine) -> None:
    """Refresh PostgreSQL's planner statistics after a bulk load (autovacuum would, later)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def bulk_insert(session: Session, model, rows: list[dict]) -> list[int]:
    """INSERT many rows in one statement with their primary keys taken up front (the bulk
    loaders: synthetic seeding, imports); returns the ids in ``rows``' order.  PostgreSQL hands
    out the keys from the table's sequence (safe beside concurrent writers); SQLite's writer holds
    the database lock (BEGIN IMMEDIATE), so the next keys after the current maximum are free."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": model.__tablename__, "n": len(rows)}))
    else:
        start = (session.scalar(select(func.max(model.id))) or 0) + 1
        ids = list(range(start, start + len(rows)))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    session.execute(model.__table__.insert(), rows)
    return ids
