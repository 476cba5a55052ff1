"""Uploads in the chat: each attached file becomes searchable in this chat before the answer.

Parsing runs in the parser pool's contained children (app.retrieval.parsepool) and
indexing on the bounded ingestion pool (app.retrieval.ingest), so one person's 200-page PDF,
or a hostile file, never freezes another person's chat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.utils import utc_now

from app.answering import format_duration, literal
from app.chat import shareable
from app.chat.uploads import (
    StoredUpload,
    chat_folder,
    check_upload,
    publish_to_knowledge,
    store_upload,
)
from app.retrieval.ingest import run_ingest
from app.retrieval.types import DocumentRejected
from app.services import Services

log = logging.getLogger(__name__)

PUBLISH_ACTION = "publish_upload"


@dataclass(frozen=True, slots=True)
class IndexedUpload:
    stored: StoredUpload
    doc_id: str
    chunks: int
    truncated: bool = False
    seconds: float = 0.0  # parsing and indexing time


async def ingest_attachments(
    elements: list, scope: str, services: Services
) -> tuple[list[IndexedUpload], list[str]]:
    """Store and index every file on a message. Returns (indexed, rejection messages)."""
    files = [e for e in elements if getattr(e, "path", None)]
    if not files:
        return [], []
    indexed: list[IndexedUpload] = []
    rejected: list[str] = []
    async with cl.Step(name="Ingest", type="tool") as step:
        step.start = utc_now()
        t0 = time.perf_counter()
        lines = []
        for element in files:
            outcome = await _ingest_one(element, scope, services)
            if isinstance(outcome, IndexedUpload):
                indexed.append(outcome)
                lines.append(_indexed_line(outcome, services.settings.max_extracted_chars))
            else:
                message, line = outcome
                rejected.append(message)
                if line:
                    lines.append(line)
        total = time.perf_counter() - t0
        chunks = sum(u.chunks for u in indexed)
        what = indexed[0].stored.name if len(indexed) == 1 else f"{len(indexed)} files"
        step.name = f"Ingest · {what} · {chunks} chunks · {format_duration(total)}"
        step.output = "\n".join(lines)
        step.end = utc_now()
    return indexed, rejected


async def _ingest_one(
    element: Any, scope: str, services: Services
) -> IndexedUpload | tuple[str, str | None]:
    """One attached file, stored and indexed; or (the rejection message, its step line)."""
    settings = services.settings
    name = element.name or Path(element.path).name
    try:
        size = Path(element.path).stat().st_size
    except OSError:
        return f"{name} was not added: the upload did not arrive; try again.", None
    reason = check_upload(
        name, size, allowed=settings.upload_extensions, max_bytes=settings.max_upload_bytes
    )
    if reason:
        return reason, f"- ✗ {literal(reason)}"
    try:
        stored = await asyncio.to_thread(
            store_upload, Path(element.path), name, scope, settings.upload_dir
        )
        f0 = time.perf_counter()
        result = await run_ingest(services.library.add_file, stored.path, scope, name)
    except DocumentRejected as e:
        return _rejection(name, str(e)), f"- ✗ {literal(str(e))}"
    except OSError as e:
        log.exception("Storing upload %s failed", name)
        return f"{name} was not added: it could not be saved ({e.strerror}).", None
    seconds = time.perf_counter() - f0
    return IndexedUpload(stored, result.doc_id, result.chunks, result.truncated, seconds)


def _indexed_line(upload: IndexedUpload, max_chars: int) -> str:
    line = (
        f"- ✓ **{literal(upload.stored.name)}**: {upload.chunks} chunks in "
        f"{format_duration(upload.seconds)}"
    )
    return line + (f" ({truncated_note(max_chars)})" if upload.truncated else "")


def truncated_note(max_chars: int) -> str:
    return (
        f"truncated: only its first {max_chars:,} characters of text were indexed "
        "(MAX_EXTRACTED_CHARS)"
    )


async def announce(
    indexed: list[IndexedUpload],
    rejected: list[str],
    registry: shareable.Registry,
    max_chars: int,
    *,
    can_share: bool = True,
) -> None:
    for reason in rejected:
        await cl.ErrorMessage(content=literal(reason), author="Uploads").send()
    for upload in indexed:
        # The button carries an id only; what it stands for stays in this chat's session.
        upload_id = shareable.offer(registry, upload.stored)
        note = f" It was {truncated_note(max_chars)}." if upload.truncated else ""
        action = cl.Action(
            name=PUBLISH_ACTION,
            payload={"id": upload_id},
            label="Add to shared knowledge",
            tooltip="Copy this file into the shared knowledge folder for everyone",
            icon="share-2",
        )
        await cl.Message(
            content=f"Added **{literal(upload.stored.name)}** to this chat "
            f"({upload.chunks} chunks). Only this chat can search it.{note}",
            author="Uploads",
            actions=[action] if can_share else [],  # only admins, unless SHARE_UPLOADS=everyone
        ).send()


async def publish(
    action: cl.Action, scope: str, registry: shareable.Registry, services: Services
) -> str:
    """Copy an upload into knowledge/ and index it as shared; returns the message to show."""
    settings = services.settings
    # The payload comes back from the browser: it is only a key into this chat's own table.
    stored = shareable.resolve(
        registry, action.payload.get("id"), chat_folder(settings.upload_dir, scope)
    )
    if stored is None:
        return "That upload is no longer available to share; upload it again."
    # File names are chosen by whoever uploaded the file: shown literally, never as markdown.
    name = literal(stored.name)
    try:
        target, created = await run_ingest(publish_to_knowledge, stored, settings.knowledge_dir)
    except OSError as e:
        return f"{name} could not be copied into the shared knowledge folder ({e.strerror})."
    try:
        result = await run_ingest(services.library.add_file, target, None, None)
    except (DocumentRejected, OSError) as e:
        if created:  # don't leave a file in knowledge/ that nobody can search
            target.unlink(missing_ok=True)
        reason = e if isinstance(e, DocumentRejected) else f"it could not be read ({e.strerror})"
        return f"{name} could not be shared: {reason}"
    # The shared copy now serves this chat too; drop the chat-only copy to avoid duplicates.
    await asyncio.to_thread(services.library.remove_document, result.doc_id, scope)
    where = literal(str(target.relative_to(settings.knowledge_dir)))
    if not created:
        return f"{name} is already in the shared knowledge as {where}."
    return f"Shared **{name}** as {where}: everyone can now find it ({result.chunks} chunks)."


def _rejection(name: str, reason: str) -> str:
    # Loader reasons already start with the file name ("x.pdf is encrypted; …").
    reason = reason.rstrip(".") + "."
    return f"Not added: {reason}" if reason.startswith(name) else f"{name} was not added: {reason}"
