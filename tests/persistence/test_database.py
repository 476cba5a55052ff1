"""Migrations, the start-up self-check and the data layer against real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.user import User
from sqlalchemy import text

from app.config import load_settings
from app.feedback.export import as_csv, as_jsonl, fetch_rows
from app.persistence.migrate import migrate
from app.persistence.schema import LATEST
from app.persistence.selfcheck import full_step
from app.persistence.setup import DatabaseError, build_data_layer, check_database
from tests.support.processes import free_port


async def test_migrations_apply_once_and_the_self_check_passes(settings):
    assert await check_database(settings) == [1, 2]
    assert await check_database(settings) == []  # idempotent: a restart changes nothing
    layer = build_data_layer(settings)
    async with layer.engine.connect() as conn:
        version = (await conn.execute(text("SELECT MAX(version) FROM app_schema"))).scalar()
    await layer.engine.dispose()
    assert version == LATEST


async def _thread(layer, user_id: str, name: str, at: str) -> str:
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name=name, user_id=user_id)
    step = {**full_step(thread_id), "type": "user_message", "output": name, "createdAt": at}
    await type(layer).create_step.__wrapped__(layer, step)
    return thread_id


async def test_sidebar_page_is_one_page_of_the_users_own_chats_newest_first(layer):
    alice = await layer.create_user(User(identifier="alice"))
    bob = await layer.create_user(User(identifier="bob"))
    ids = [
        await _thread(layer, alice.id, f"chat {i}", f"2026-01-01T00:00:{i:02d}Z") for i in range(5)
    ]
    await _thread(layer, bob.id, "bob's chat", "2026-01-02T00:00:00Z")
    first = await layer.list_threads(Pagination(first=2), ThreadFilter(userId=alice.id))
    assert [t["id"] for t in first.data] == [ids[4], ids[3]]
    assert first.pageInfo.hasNextPage
    second = await layer.list_threads(
        Pagination(first=2, cursor=first.pageInfo.endCursor), ThreadFilter(userId=alice.id)
    )
    assert [t["id"] for t in second.data] == [ids[2], ids[1]]
    found = await layer.list_threads(
        Pagination(first=20), ThreadFilter(userId=alice.id, search="CHAT 3")
    )
    assert [t["id"] for t in found.data] == [ids[3]]
    assert all(t["userId"] == alice.id for t in first.data + second.data)


async def test_deleting_a_chat_calls_the_hook_and_removes_its_rows(settings):
    await check_database(settings)
    deleted = []

    async def hook(thread_id: str) -> None:
        deleted.append(thread_id)

    layer = build_data_layer(settings, on_deleted=hook)
    user = await layer.create_user(User(identifier="carol"))
    thread_id = await _thread(layer, user.id, "to delete", "2026-01-01T00:00:00Z")
    await layer.delete_thread(thread_id)
    assert deleted == [thread_id]
    assert await layer.get_thread(thread_id) is None
    await layer.engine.dispose()


async def test_feedback_export_has_one_row_per_rating_with_the_turn(layer):
    user = await layer.create_user(User(identifier="dave"))
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, user_id=user.id)
    earlier = full_step(thread_id)
    earlier["createdAt"] = "2025-12-31T00:00:00.000Z"
    earlier["metadata"] = {"turn": {"question": "What is Heron?", "answer": "A cluster [1]."}}
    await type(layer).create_step.__wrapped__(layer, earlier)
    step = full_step(thread_id)
    step["metadata"] = {
        "turn": {
            "question": "How do I reset?",
            "answer": "Hold the button [1].",
            "route": "escalated",
            "models": ["phi-4-mini", "gpt-oss-20b"],
            "confidence": 0.4,
            "sources": [{"n": 1, "source": "manual.md"}],
        }
    }
    await type(layer).create_step.__wrapped__(layer, step)
    await layer.upsert_feedback(
        Feedback(forId=step["id"], value=0, threadId=thread_id, comment="wrong button")
    )
    rows = await fetch_rows(layer.engine)
    assert len(rows) == 1
    row = rows[0]
    assert row["rating"] == "down" and row["comment"] == "wrong button"
    assert row["question"] == "How do I reset?" and row["route"] == "escalated"
    assert row["models"] == ["phi-4-mini", "gpt-oss-20b"] and row["confidence"] == 0.4
    assert row["sources"] == ["manual.md"] and row["citations"][0]["n"] == 1
    assert row["user"] == "dave"
    assert row["history"] == [{"question": "What is Heron?", "answer": "A cluster [1]."}]
    # The other engineer's converter takes these rows as they are.
    from app.eval.feedback import row_to_case

    case = row_to_case(json.loads(as_jsonl(rows)), 1)
    assert case.question == "How do I reset?" and case.category == "followup"
    assert as_jsonl(rows).count("\n") == 1
    assert "wrong button" in as_csv(rows).splitlines()[1]
    assert await fetch_rows(layer.engine, "2999-01-01") == []


async def test_unreachable_database_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"postgresql+asyncpg://app:secret@127.0.0.1:{free_port()}/nothing"
    settings = load_settings(database_url=url, data_dir=tmp_path / "data")
    with pytest.raises(DatabaseError) as err:
        await check_database(settings)
    message = str(err.value)
    assert "is unusable" in message and "DATABASE_URL" in message
    assert "secret" not in message and "\n" not in message


async def test_read_only_database_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "app.db"
    sqlite3.connect(db).close()
    url = f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true"
    settings = load_settings(database_url=url, data_dir=tmp_path / "data")
    with pytest.raises(DatabaseError) as err:
        await check_database(settings)
    assert "readonly" in str(err.value).lower() and "\n" not in str(err.value)


# Chainlit's documented schema before 2.x added command, modes, defaultOpen, autoCollapse…
_OLD_SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY, identifier TEXT NOT NULL UNIQUE,
  metadata TEXT NOT NULL, "createdAt" TEXT);
CREATE TABLE threads (id TEXT PRIMARY KEY, "createdAt" TEXT, name TEXT, "userId" TEXT,
  "userIdentifier" TEXT, tags TEXT, metadata TEXT);
CREATE TABLE steps (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,
  "threadId" TEXT NOT NULL, "parentId" TEXT, streaming BOOLEAN NOT NULL,
  "waitForAnswer" BOOLEAN, "isError" BOOLEAN, metadata TEXT, tags TEXT, input TEXT,
  output TEXT, "createdAt" TEXT, start TEXT, "end" TEXT, generation TEXT,
  "showInput" TEXT, language TEXT, indent INT);
CREATE TABLE elements (id TEXT PRIMARY KEY, "threadId" TEXT, type TEXT, url TEXT,
  "chainlitKey" TEXT, name TEXT NOT NULL, display TEXT, "objectKey" TEXT, size TEXT,
  page INT, language TEXT, "forId" TEXT, mime TEXT);
CREATE TABLE feedbacks (id TEXT PRIMARY KEY, "forId" TEXT NOT NULL, value INT NOT NULL,
  comment TEXT);
INSERT INTO users VALUES ('u1', 'erin', '{}', '2025-01-01');
INSERT INTO threads VALUES ('t1', '2025-01-01', 'old chat', 'u1', 'erin', NULL, '{}');
INSERT INTO steps (id, name, type, "threadId", streaming, output, "createdAt")
  VALUES ('s1', 'erin', 'user_message', 't1', 0, 'an old question', '2025-01-01');
INSERT INTO feedbacks VALUES ('f1', 's1', 1, 'kept');
"""


async def test_sqlite_file_from_an_older_schema_is_migrated_and_nothing_is_lost(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(_OLD_SCHEMA)
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{db}", data_dir=tmp_path / "d")
    assert await check_database(settings) == [1, 2]  # the self-check passes afterwards
    layer = build_data_layer(settings)
    thread = await layer.get_thread("t1")
    page = await layer.list_threads(Pagination(first=5), ThreadFilter(userId="u1"))
    await layer.engine.dispose()
    assert thread["name"] == "old chat"
    assert thread["steps"][0]["output"] == "an old question"
    assert thread["steps"][0]["feedback"]["comment"] == "kept"
    assert [t["id"] for t in page.data] == ["t1"]


async def test_migrate_twice_concurrently_is_safe(settings):
    layer = build_data_layer(settings)
    import asyncio

    results = await asyncio.gather(migrate(layer.engine), migrate(layer.engine))
    await layer.engine.dispose()
    assert sorted(results, key=len) == [[], [1, 2]]


async def test_unknown_thread_has_no_author(layer):
    assert await layer.get_thread_author(str(uuid.uuid4())) == ""


async def test_stats_command_is_for_admins_only(layer):
    from chainlit.user import User as ChainlitUser

    from app.chat.admin import is_stats_command, stats_reply

    assert is_stats_command(" /STATS ")
    refused = await stats_reply(
        ChainlitUser(identifier="u", metadata={"role": "user"}), layer.engine
    )
    assert refused.startswith("Only admins")
    admin = ChainlitUser(identifier="a", metadata={"role": "admin"})
    assert "No ratings" in await stats_reply(admin, layer.engine)
