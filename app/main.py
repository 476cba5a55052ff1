"""Chainlit entry point: `chainlit run app/main.py`. Wires callbacks to the core, nothing more."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from pathlib import Path

# `chainlit run app/main.py` puts app/ (not the repo root) on sys.path; make `import app.…`
# work even when the project isn't pip-installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import chainlit as cl
from chainlit.config import config as chainlit_config
from chainlit.server import app as chainlit_app
from chainlit.types import ThreadDict

from app.accounts.callbacks import register_auth, warn_if_exposed
from app.accounts.roles import may_share
from app.accounts.secret import ensure_auth_secret
from app.chat import compare_view, shareable, step_clock, upload_flow
from app.chat.admin import is_stats_command, stats_reply
from app.chat.preferences import preferences, restored_widgets, widgets
from app.chat.questions import check_question
from app.chat.resume import (
    forget_chat,
    history_entry,
    history_from,
    reindex_uploads_async,
    scope_for,
)
from app.chat.starters import STARTERS
from app.chat.streaming import show_events
from app.chat.upload_guard import EmptyUploadGuard, chat_notifier
from app.chat.uploads import browser_accept
from app.chat.view import TurnView
from app.config import SettingsError, get_settings
from app.edge import install_edge_guards
from app.edge.proxies import trust_only_configured_proxies
from app.persistence.feedback_guard import install_feedback_guard
from app.persistence.files_route import install_files_route
from app.persistence.setup import (
    DatabaseError,
    build_data_layer,
    build_storage,
    check_database_sync,
)
from app.services import Services, start_services

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

try:
    SETTINGS = get_settings()
except SettingsError as err:
    # One clear line instead of a stack trace from deep inside the server start-up.
    print(err.message, file=sys.stderr, flush=True)
    raise SystemExit(2) from None

# The browser's upload filter follows the settings, so MAX_UPLOAD_MB and
# ALLOWED_UPLOAD_TYPES are the only place to change them (the server re-checks every file).
_upload_feature = chainlit_config.features.spontaneous_file_upload
if _upload_feature is not None:
    _upload_feature.max_size_mb = math.ceil(SETTINGS.max_upload_mb)
    _upload_feature.accept = browser_accept(SETTINGS.upload_extensions)

# An empty upload gets a clear message in the chat instead of Chainlit's silent HTTP 500.
# Added before the edge guards so that they, added last, run first (outermost).
if not any(m.cls is EmptyUploadGuard for m in chainlit_app.user_middleware):
    chainlit_app.add_middleware(EmptyUploadGuard, notify=chat_notifier(SETTINGS))
# Before the server starts: refuse hostile session ids, foreign origins, inline uploads.
install_edge_guards(SETTINGS.allowed_origin_list)
trust_only_configured_proxies(SETTINGS)
# Chainlit's steps and messages stop blocking the event loop 1 ms each (see step_clock).
step_clock.install()

# Accounts and durable chats: a database that can't store a chat stops start-up here, with
# one line, rather than losing every chat quietly later.
ensure_auth_secret(SETTINGS.data_dir)
try:
    check_database_sync(SETTINGS)
except DatabaseError as err:
    print(str(err), file=sys.stderr, flush=True)
    raise SystemExit(2) from None
register_auth(SETTINGS)
_storage = build_storage(SETTINGS)
install_files_route(_storage)
install_feedback_guard()

_services: Services | None = None
_startup_error: str | None = None


class ServicesUnavailable(RuntimeError):
    pass


def services() -> Services:
    if _services is None:
        raise ServicesUnavailable(_startup_error or "the assistant is still starting")
    return _services


async def _chat_deleted(thread_id: str) -> None:
    if _services is not None:
        await forget_chat(_services.library, SETTINGS.upload_dir, scope_for(thread_id))


@cl.data_layer
def _data_layer():
    return build_data_layer(SETTINGS, _storage, on_deleted=_chat_deleted)


@cl.on_app_startup
async def _startup() -> None:
    global _services, _startup_error
    warn_if_exposed(SETTINGS, chainlit_config.run.host)
    try:
        _services = await start_services(SETTINGS)
    except Exception as e:  # keep serving so every chat can say what went wrong
        logging.getLogger(__name__).exception("start-up failed")
        _startup_error = f"start-up failed: {type(e).__name__}: {e}"


async def _services_or_explain() -> Services | None:
    try:
        return services()
    except ServicesUnavailable as e:
        await cl.Message(
            content=f"The assistant cannot answer right now ({e}). Check the server log.",
            author="System",
        ).send()
        return None


@cl.on_app_shutdown
async def _shutdown() -> None:
    if _services is not None:
        await _services.aclose()


@cl.set_starters
async def _starters(user=None, language=None) -> list[cl.Starter]:
    return [cl.Starter(label=label, message=message) for label, message in STARTERS]


@cl.on_chat_start
async def _chat_start() -> None:
    svc = await _services_or_explain()
    if svc is None:
        return
    # Pick up files copied into knowledge/ since the last chat started (in the background).
    svc.refresh_knowledge_soon()
    # Uploads are keyed to the thread, so a resumed chat (here or on another replica) finds them.
    cl.user_session.set("scope", scope_for(cl.context.session.thread_id))
    cl.user_session.set(shareable.SESSION_KEY, {})
    cl.user_session.set("history", [])
    await cl.context.emitter.set_commands(compare_view.COMMANDS)
    values = await cl.ChatSettings(widgets(SETTINGS)).send()
    cl.user_session.set("prefs", dict(values))  # plain JSON: persisted with the thread


@cl.on_chat_resume
async def _chat_resume(thread: ThreadDict) -> None:
    svc = await _services_or_explain()
    if svc is None:
        return
    scope = scope_for(thread["id"])
    cl.user_session.set("scope", scope)  # the session (prefs, history) came back with it
    cl.user_session.set("history", cl.user_session.get("history") or [])
    cl.user_session.set(shareable.SESSION_KEY, cl.user_session.get(shareable.SESSION_KEY) or {})
    prefs = cl.user_session.get("prefs") or {}
    await cl.context.emitter.set_commands(compare_view.COMMANDS)
    await cl.ChatSettings(restored_widgets(SETTINGS, prefs)).send()
    await reindex_uploads_async(svc.library, SETTINGS.upload_dir, scope)


@cl.on_settings_update
async def _settings_update(values: dict) -> None:
    cl.user_session.set("prefs", dict(values))


@cl.on_chat_end
async def _chat_end() -> None:
    scope = cl.user_session.get("scope")
    if scope and _services is not None:
        # The files stay in durable storage; only the in-memory index for this chat goes.
        # In a worker thread: dropping may compact the index, which other chats never wait
        # for, but which should not run on the event loop they stream on.
        await asyncio.to_thread(services().library.drop_scope, scope)


@cl.on_message
async def _on_message(message: cl.Message) -> None:
    svc = await _services_or_explain()
    if svc is None:
        return
    if is_stats_command(message.content or ""):
        reply = await stats_reply(cl.user_session.get("user"), _data_layer_engine())
        await cl.Message(content=reply, author="Stats").send()
        return
    scope: str = cl.user_session.get("scope")
    options = preferences(cl.user_session.get("prefs") or {}, SETTINGS)
    history = history_from(cl.user_session.get("history"))

    indexed, rejected = await upload_flow.ingest_attachments(message.elements or [], scope, svc)
    registry = cl.user_session.get(shareable.SESSION_KEY)
    can_share = may_share(cl.user_session.get("user"), SETTINGS)
    await upload_flow.announce(
        indexed, rejected, registry, SETTINGS.max_extracted_chars, can_share=can_share
    )
    cl.user_session.set(shareable.SESSION_KEY, registry)
    asked = check_question(message.content or "", SETTINGS.max_question_chars)
    if asked.refusal:
        await cl.Message(content=asked.refusal, author="System").send()
        return
    question = asked.text
    if not question:
        return
    if message.command == compare_view.COMMAND:
        await compare_view.show_comparison(question, scope, svc)
        return

    view = TurnView()
    events = svc.answerer.ask(question, history=history, scope=scope, options=options)
    # Stop cancels this task: the view leaves a tidy turn and nothing enters history.
    await show_events(events, view)
    result = view.result
    if result is not None and result.enters_history:
        stored = cl.user_session.get("history") or []
        cl.user_session.set("history", [*stored, history_entry(question, result.answer)])


def _data_layer_engine():
    from chainlit.data import get_data_layer

    return get_data_layer().engine


@cl.action_callback(upload_flow.PUBLISH_ACTION)
async def _publish(action: cl.Action) -> None:
    if not may_share(cl.user_session.get("user"), SETTINGS):
        await cl.Message(content="Only admins can add files to the shared knowledge.").send()
        return
    text = await upload_flow.publish(
        action,
        cl.user_session.get("scope"),
        cl.user_session.get(shareable.SESSION_KEY),
        services(),
    )
    await cl.Message(content=text, author="Uploads").send()
    await action.remove()
