"""The database schema as versioned migrations, applied in order at start-up.

Chainlit's SQLAlchemy data layer ships no schema and silently drops any write that names a
column the table lacks, so every column Chainlit 2.x writes is listed here. Migrations are
plain functions on a synchronous connection (run through `AsyncConnection.run_sync`), each
idempotent on its own (IF NOT EXISTS, add-missing-columns), so a database created by hand
from an older Chainlit schema is brought up to date without losing a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

# Column types are kept portable: ids are TEXT (Chainlit passes str), JSON is TEXT (Chainlit
# passes json.dumps output), tags are TEXT[] on PostgreSQL and JSON text on SQLite.
_TABLES: dict[str, list[tuple[str, str]]] = {
    "users": [
        ("id", "TEXT PRIMARY KEY"),
        ("identifier", "TEXT NOT NULL UNIQUE"),
        ("metadata", "TEXT NOT NULL DEFAULT '{}'"),
        ("createdAt", "TEXT"),
    ],
    "threads": [
        ("id", "TEXT PRIMARY KEY"),
        ("createdAt", "TEXT"),
        ("name", "TEXT"),
        ("userId", "TEXT"),
        ("userIdentifier", "TEXT"),
        ("tags", "{tags}"),
        ("metadata", "TEXT"),
    ],
    "steps": [
        ("id", "TEXT PRIMARY KEY"),
        ("name", "TEXT NOT NULL"),
        ("type", "TEXT NOT NULL"),
        ("threadId", "TEXT NOT NULL"),
        ("parentId", "TEXT"),
        ("streaming", "BOOLEAN NOT NULL DEFAULT FALSE"),
        ("waitForAnswer", "BOOLEAN"),
        ("isError", "BOOLEAN"),
        ("metadata", "TEXT"),
        ("tags", "{tags}"),
        ("input", "TEXT"),
        ("output", "TEXT"),
        ("createdAt", "TEXT"),
        ("command", "TEXT"),
        ("start", "TEXT"),
        ("end", "TEXT"),
        ("generation", "TEXT"),
        ("showInput", "TEXT"),
        ("language", "TEXT"),
        ("indent", "INTEGER"),
        ("defaultOpen", "BOOLEAN"),
        ("autoCollapse", "BOOLEAN"),
        ("modes", "TEXT"),
        ("icon", "TEXT"),
    ],
    "elements": [
        ("id", "TEXT PRIMARY KEY"),
        ("threadId", "TEXT"),
        ("type", "TEXT"),
        ("url", "TEXT"),
        ("chainlitKey", "TEXT"),
        ("name", "TEXT NOT NULL"),
        ("display", "TEXT"),
        ("objectKey", "TEXT"),
        ("size", "TEXT"),
        ("page", "INTEGER"),
        ("language", "TEXT"),
        ("forId", "TEXT"),
        ("mime", "TEXT"),
        ("props", "TEXT"),
        ("autoPlay", "BOOLEAN"),
        ("playerConfig", "TEXT"),
    ],
    "feedbacks": [
        ("id", "TEXT PRIMARY KEY"),
        ("forId", "TEXT NOT NULL"),
        ("threadId", "TEXT"),
        ("value", "INTEGER NOT NULL"),
        ("comment", "TEXT"),
    ],
}

# Ours, not Chainlit's: password hashes never go into users.metadata, which Chainlit puts in
# the login token and sends to the browser.
_ACCOUNTS = [
    ("identifier", "TEXT PRIMARY KEY"),
    ("password_hash", "TEXT NOT NULL"),
    ("role", "TEXT NOT NULL DEFAULT 'user'"),
    ("failed_logins", "INTEGER NOT NULL DEFAULT 0"),
    ("locked_until", "DOUBLE PRECISION NOT NULL DEFAULT 0"),
    ("created_at", "TEXT"),
]

_INDEXES = [
    ("idx_threads_user_updated", 'threads ("userId", "updatedAt", "id")'),
    ("idx_steps_thread", 'steps ("threadId", "createdAt")'),
    ("idx_elements_thread", 'elements ("threadId")'),
    ("idx_feedbacks_for", 'feedbacks ("forId")'),
]


def _tags_type(conn: Connection) -> str:
    return "TEXT[]" if conn.dialect.name == "postgresql" else "TEXT"


def _create_table(conn: Connection, table: str, columns: list[tuple[str, str]]) -> None:
    tags = _tags_type(conn)
    cols = ", ".join(f'"{name}" {kind.replace("{tags}", tags)}' for name, kind in columns)
    conn.execute(text(f'CREATE TABLE IF NOT EXISTS "{table}" ({cols})'))


def _add_missing_columns(conn: Connection, table: str, columns: list[tuple[str, str]]) -> None:
    """Bring a table made from an older schema up to date (new columns are nullable)."""
    present = {c["name"] for c in inspect(conn).get_columns(table)}
    tags = _tags_type(conn)
    for name, kind in columns:
        if name not in present:
            # PRIMARY KEY / NOT NULL can't be added to existing rows; keep the type only.
            base = kind.replace("{tags}", tags).split(" ")[0]
            conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {base}'))


def m1_chainlit_tables(conn: Connection) -> None:
    for table, columns in _TABLES.items():
        _create_table(conn, table, columns)
        _add_missing_columns(conn, table, columns)


def m2_accounts_and_activity(conn: Connection) -> None:
    _create_table(conn, "app_accounts", _ACCOUNTS)
    # Sidebar order without scanning steps: the last activity, kept by the data layer.
    _add_missing_columns(conn, "threads", [("updatedAt", "TEXT")])
    conn.execute(text('UPDATE threads SET "updatedAt" = "createdAt" WHERE "updatedAt" IS NULL'))
    for name, target in _INDEXES:
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {target}"))


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


MIGRATIONS = [
    Migration(1, "Chainlit 2.x tables with every column it writes", m1_chainlit_tables),
    Migration(2, "accounts, thread activity column, indexes", m2_accounts_and_activity),
]

LATEST = MIGRATIONS[-1].version
