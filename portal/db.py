"""The declarative base, its constraint naming convention and reusable column types."""

from __future__ import annotations

import enum
import logging
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import CheckConstraint, DateTime, MetaData, String, TypeDecorator, func
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def instant(value: datetime | None) -> str | None:
    """A moment as ISO 8601 UTC to the second (``2026-11-23T14:05:00Z``); a naive value is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """A random surrogate identifier (128 bits, hex): reveals nothing and cannot be guessed."""
    return secrets.token_hex(16)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SurrogateId = Annotated[str, mapped_column(String(32), primary_key=True, default=new_id)]
CreatedAt = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, server_default=func.now(), nullable=False)]


def enum_check(column: str, enum_cls: type[enum.StrEnum], name: str | None = None) -> CheckConstraint:
    """A CHECK constraint that keeps a StrEnum column to its values."""
    values = ", ".join(f"'{member.value}'" for member in enum_cls)
    return CheckConstraint(f"{column} IN ({values})", name=name or f"{column}_valid")


def enum_values(enum_cls: type[enum.StrEnum]) -> list[str]:
    return [m.value for m in enum_cls]


def as_dict(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


def scrub_deleted(engine: Any, tables: list[str], *, attempts: int = 20, pause: float = 0.25) -> str:
    """After an erasure: what can be done at once so that the deleted rows do not linger in the live
    database files. Returns what was done, as the deletion certificate states it:

    - ``"overwritten"`` (SQLite): every connection deletes with ``secure_delete``, so freed content
      is overwritten with zeros; here the write-ahead log, which still holds the pages as they were
      before, is copied back and truncated to nothing. A reader in the middle of a long query can
      hold the old pages for a moment: the checkpoint waits briefly and is tried ``attempts`` times.
    - ``"freed"`` (PostgreSQL): the deleted rows' tuples and index entries are removed by a plain
      ``VACUUM`` of ``tables`` (it does not block reads or writes); their bytes stay in the files'
      free space until it is reused (docs/architecture.md, "Keys and backups").
    - ``"deleted"``: neither could be done now (busy); the database's own maintenance does it later.
    """
    import time

    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            try:
                conn.exec_driver_sql("VACUUM (INDEX_CLEANUP ON) " + ", ".join(
                    engine.dialect.identifier_preparer.quote(table) for table in tables))
            except Exception:
                log.warning("the vacuum after an erasure did not run; autovacuum will do it", exc_info=True)
                return "deleted"
        return "freed"
    if engine.dialect.name != "sqlite":
        return "deleted"
    with engine.connect() as conn:
        # Wait briefly for readers and writers, then let go and try again: a checkpoint that waited
        # the whole busy timeout would hold up every other writer that long.
        conn.exec_driver_sql("PRAGMA busy_timeout=100")
        try:
            for _ in range(attempts):
                busy, _frames, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                if not busy:
                    return "overwritten"
                time.sleep(pause)
            return "deleted"
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout=10000")  # as every connection of the pool has it
