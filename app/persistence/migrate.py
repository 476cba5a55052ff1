"""Apply the migrations in `schema.py` that a database hasn't had yet.

Safe to run on every start and from several replicas at once: on PostgreSQL an advisory
lock serialises them; SQLite serialises writers itself.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.persistence.schema import MIGRATIONS

log = logging.getLogger(__name__)

_LOCK_ID = 7_331_004  # any constant shared by every replica of this app


def current_version(conn: Connection) -> int:
    conn.execute(text("CREATE TABLE IF NOT EXISTS app_schema (version INTEGER NOT NULL)"))
    # SQLite: a (no-op) write takes the database's write lock now, so a second process waits
    # here instead of reading the same old version and migrating in parallel.
    conn.execute(text("UPDATE app_schema SET version = version WHERE version < 0"))
    row = conn.execute(text("SELECT MAX(version) FROM app_schema")).scalar()
    return int(row or 0)


def apply_pending(conn: Connection) -> list[int]:
    """Run every migration newer than the database, in order; returns the versions applied."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
    done = current_version(conn)
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= done:
            continue
        migration.apply(conn)
        conn.execute(text("INSERT INTO app_schema (version) VALUES (:v)"), {"v": migration.version})
        log.info("Database migrated to version %d: %s", migration.version, migration.description)
        applied.append(migration.version)
    return applied


async def migrate(engine: AsyncEngine) -> list[int]:
    # One transaction: a failed migration leaves the database exactly as it was.
    async with engine.begin() as conn:
        return await conn.run_sync(apply_pending)
