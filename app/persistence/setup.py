"""Build the data layer from settings; migrate and self-check the database before serving."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from app.config import Settings
from app.persistence.data_layer import AppDataLayer, ThreadDeleted
from app.persistence.migrate import migrate
from app.persistence.selfcheck import SelfCheckFailed, run_self_check
from app.persistence.storage import LocalStorageClient


class DatabaseError(RuntimeError):
    """One line saying what is wrong with the database and which setting to look at."""


def files_root(settings: Settings) -> Path:
    return settings.data_dir / "files"


def build_storage(settings: Settings) -> LocalStorageClient:
    return LocalStorageClient(files_root(settings).resolve())


def build_data_layer(
    settings: Settings,
    storage: LocalStorageClient | None = None,
    on_deleted: ThreadDeleted | None = None,
) -> AppDataLayer:
    storage = storage or build_storage(settings)
    return AppDataLayer(settings.resolved_database_url, storage, on_deleted)


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _prepare_folders(settings: Settings) -> None:
    if not settings.data_dir.exists():
        # Private by default: the database, every chat's files and the auth secret live here.
        settings.data_dir.mkdir(parents=True, mode=0o700)
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    files_root(settings).mkdir(parents=True, exist_ok=True)


async def check_database(settings: Settings) -> list[int]:
    """Migrate, then prove a chat can be written and read. Returns migrations applied."""
    where = shown_url(settings.resolved_database_url)
    try:
        _prepare_folders(settings)
    except OSError as e:
        raise DatabaseError(f"Cannot create DATA_DIR={settings.data_dir}: {e.strerror}.") from None
    layer = build_data_layer(settings)
    try:
        try:
            applied = await migrate(layer.engine)
        except Exception as e:
            raise DatabaseError(
                f"Database {where} (DATABASE_URL) is unusable: {_first_line(e)}"
            ) from None
        try:
            await run_self_check(layer)
        except SelfCheckFailed as e:
            raise DatabaseError(
                f"Database self-check failed on {where}: {e}; is it read-only or from an "
                "incompatible schema?"
            ) from None
        return applied
    finally:
        await layer.engine.dispose()


def check_database_sync(settings: Settings) -> list[int]:
    """For start-up, before Chainlit's event loop exists."""
    return asyncio.run(check_database(settings))


def _first_line(e: Exception) -> str:
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}".rstrip(": ") + "."
