"""Start-up self-check: write a thread, a step with every key Chainlit sends, an element and
a feedback row; read them back; delete them. Chainlit's data layer only logs failed writes,
so without this a missing column or a read-only database would lose every chat quietly."""

from __future__ import annotations

import shutil
import uuid
from typing import Any

from chainlit.element import Text
from chainlit.types import Feedback
from chainlit.user import User

from app.persistence.data_layer import AppDataLayer

CHECK_USER = "__selfcheck__"


class SelfCheckFailed(RuntimeError):
    pass


def full_step(thread_id: str) -> dict[str, Any]:
    """A step carrying every key `Step.to_dict` and `Message.to_dict` produce in Chainlit 2.x."""
    return {
        "id": str(uuid.uuid4()),
        "threadId": thread_id,
        "parentId": None,
        "name": "Assistant",
        "type": "assistant_message",
        "command": "search",
        "modes": {"model": "fast"},
        "streaming": False,
        "waitForAnswer": False,
        "isError": False,
        "metadata": {"turn": {"route": "draft_kept"}},
        "tags": ["check"],
        "input": "question",
        "output": "answer [1]",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "start": "2026-01-01T00:00:00.000Z",
        "end": "2026-01-01T00:00:01.000Z",
        "generation": {"model": "m"},
        "showInput": "json",
        "defaultOpen": True,
        "autoCollapse": False,
        "language": "markdown",
        "icon": "search",
    }


def mismatches(sent: dict[str, Any], got: dict[str, Any] | None, keys: list[str]) -> list[str]:
    if got is None:
        return ["nothing came back"]
    return [k for k in keys if str(got.get(k)) != str(sent.get(k))]


async def run_self_check(layer: AppDataLayer) -> None:
    user = await layer.create_user(User(identifier=CHECK_USER, metadata={"role": "user"}))
    if user is None:
        raise SelfCheckFailed("could not write or read a user")
    thread_id = str(uuid.uuid4())
    try:
        await _check_thread(layer, thread_id, user.id)
    finally:
        await layer.delete_thread(thread_id)
        await layer.execute_sql("DELETE FROM users WHERE identifier = :i", {"i": CHECK_USER})
        root = getattr(layer.storage_provider, "root", None)
        if root is not None:  # the element's file went with the thread; its user folder stays
            shutil.rmtree(root / user.id, ignore_errors=True)


async def _check_thread(layer: AppDataLayer, thread_id: str, user_id: str) -> None:
    await layer.update_thread(thread_id, name="self-check", user_id=user_id, metadata={"a": 1})
    step = full_step(thread_id)
    await AppDataLayer.create_step.__wrapped__(layer, dict(step))  # type: ignore[attr-defined]
    text = Text(
        name="source", content="cited text", display="side", for_id=step["id"], thread_id=thread_id
    )
    await AppDataLayer.create_element.__wrapped__(layer, text)  # type: ignore[attr-defined]
    feedback_id = await layer.upsert_feedback(
        Feedback(forId=step["id"], value=1, threadId=thread_id, comment="ok")
    )
    thread = await layer.get_thread(thread_id)
    if not thread:
        raise SelfCheckFailed("a thread written was not read back")
    got = next((s for s in thread["steps"] if s["id"] == step["id"]), None)
    bad = mismatches(
        step,
        dict(got) if got is not None else None,
        ["name", "type", "output", "createdAt", "end", "language"],
    )
    if bad:
        raise SelfCheckFailed(f"a step came back different ({', '.join(bad)})")
    extra = await layer.execute_sql(
        'SELECT "command", "defaultOpen", "autoCollapse", "icon", "modes" FROM steps '
        'WHERE "id" = :id',
        {"id": step["id"]},
    )
    if not isinstance(extra, list) or not extra or extra[0]["icon"] != "search":
        raise SelfCheckFailed("a step's newer columns (command, icon, modes…) were not stored")
    elements = [e for e in thread.get("elements") or [] if e["id"] == text.id]
    if not elements or not elements[0].get("objectKey"):
        raise SelfCheckFailed("an element (or its stored file) was not written")
    feedback = got.get("feedback") if got else None
    if not feedback or feedback.get("id") != feedback_id or feedback.get("comment") != "ok":
        raise SelfCheckFailed("a feedback row was not read back")
