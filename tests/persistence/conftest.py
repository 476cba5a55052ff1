"""Real databases: SQLite in a temp file, and PostgreSQL 15 started for the session."""

from __future__ import annotations

import pytest

from app.config import load_settings
from app.persistence.setup import build_data_layer, check_database
from tests.support.postgres import postgres_server


@pytest.fixture(scope="session")
def pg_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    # One server for the session, a fresh database per test.
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    base = request.getfixturevalue("pg_url")
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    name = "".join(c if c.isalnum() else "_" for c in name)

    async def create() -> None:
        engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        await engine.dispose()

    asyncio.run(create())
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def settings(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return load_settings(
        database_url=db_url, data_dir=tmp_path / "data", upload_dir=tmp_path / "uploads"
    )


@pytest.fixture
async def layer(settings):
    await check_database(settings)
    dl = build_data_layer(settings)
    yield dl
    await dl.engine.dispose()
