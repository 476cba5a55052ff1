"""A chat's state that must survive a restart, as plain JSON in Chainlit's user session
(Chainlit persists only JSON values to the thread's metadata), and rebuilding the rest
(the upload index) when a chat is resumed."""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

from app.answering import Exchange
from app.chat.uploads import chat_folder
from app.retrieval.ingest import run_ingest
from app.retrieval.library import Library
from app.retrieval.types import DocumentRejected

log = logging.getLogger(__name__)


def history_from(raw: Any) -> list[Exchange]:
    """Session history (a list of {question, answer}) → exchanges; junk is skipped."""
    if not isinstance(raw, list):
        return []
    return [
        Exchange(question=str(e["question"]), answer=str(e["answer"]))
        for e in raw
        if isinstance(e, dict) and "question" in e and "answer" in e
    ]


def history_entry(question: str, answer: str) -> dict[str, str]:
    return {"question": question, "answer": answer}


def scope_for(thread_id: str) -> str:
    """A chat's upload scope (folder name and index group), derived from its thread id so a
    resumed chat, here or on another replica, finds its uploads. Shaped `chat-<32 hex>`,
    the form upload retention recognises."""
    return f"chat-{uuid.UUID(thread_id).hex}"


def upload_folder(upload_dir: Path, scope: str) -> Path:
    return chat_folder(upload_dir, scope)  # the same folder the upload flow stores into


def reindex_uploads(library: Library, upload_dir: Path, scope: str) -> int:
    """Index every file stored for this chat again (the in-memory index died with the old
    session or process). Returns the number of chunks."""
    folder = upload_folder(upload_dir, scope)
    if not folder.is_dir():
        return 0
    chunks = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".part")):
        try:
            chunks += library.add_file(path, scope, path.name).chunks
        except DocumentRejected as e:  # it was accepted once; say why it isn't now
            log.warning("Upload %s of chat %s not re-indexed: %s", path.name, scope, e)
    return chunks


async def reindex_uploads_async(library: Library, upload_dir: Path, scope: str) -> int:
    # On the bounded ingestion pool, like any other upload: resuming a chat full of big
    # files must not take the workers every chat shares.
    return await run_ingest(reindex_uploads, library, upload_dir, scope)


async def forget_chat(library: Library, upload_dir: Path, scope: str) -> None:
    """A deleted chat takes its uploads and their index with it."""
    library.drop_scope(scope)
    await asyncio.to_thread(shutil.rmtree, upload_folder(upload_dir, scope), True)
    log.info("deleted chat %s: its uploads and their index are gone", scope)
