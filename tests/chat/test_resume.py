"""Resume helpers: history as plain JSON, saved chat settings, uploads re-indexed, deleted."""

from __future__ import annotations

import json

from app.chat.preferences import preferences, restored_widgets
from app.chat.resume import (
    forget_chat,
    history_entry,
    history_from,
    reindex_uploads,
    scope_for,
    upload_folder,
)
from app.config import load_settings
from app.feedback.summary import rates, summary_markdown
from app.retrieval.library import Library


def test_history_round_trips_through_json():
    stored = json.loads(json.dumps([history_entry("q1", "a1"), {"junk": 1}, "x"]))
    exchanges = history_from(stored)
    assert [(e.question, e.answer) for e in exchanges] == [("q1", "a1")]
    assert history_from(None) == []


def test_saved_settings_come_back_as_initial_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    values = {"top_k": 9, "policy": "never", "rewrite": False}
    by_id = {w.id: w for w in restored_widgets(settings, values)}
    assert by_id["top_k"].initial == 9 and by_id["policy"].initial_value == "never"
    options = preferences(values, settings)
    assert options.top_k == 9 and options.policy.value == "never" and not options.rewrite


async def test_uploads_are_reindexed_then_forgotten_with_the_chat(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "knowledge").mkdir()
    settings = load_settings(upload_dir=tmp_path / "uploads")
    scope = scope_for("0b6c6f43-6f59-4a43-9f1c-1f7d1d3c4b55")
    assert scope == "chat-0b6c6f436f594a439f1c1f7d1d3c4b55"
    folder = upload_folder(settings.upload_dir, scope)
    folder.mkdir(parents=True)
    (folder / "heron.md").write_text("# Heron\n\nThe Heron cluster rotates keys every 45 days.\n")
    library = Library.open(settings)
    assert reindex_uploads(library, settings.upload_dir, scope) > 0
    hits = library.search("Heron rotates keys", scope=scope, k=3)
    assert hits and hits[0].chunk.source == "heron.md"
    await forget_chat(library, settings.upload_dir, scope)
    assert not folder.exists()
    assert not library.search("Heron rotates keys", scope=scope, k=3)


def test_summary_rates_per_route_and_model():
    rows = [
        {"value": 1, "route": "draft_kept", "models": ["small"]},
        {"value": 0, "route": "escalated", "models": ["small", "large"]},
        {"value": 1, "route": "escalated", "models": ["small", "large"]},
    ]
    assert rates(rows, "route") == [("escalated", 2, 1, 0.5), ("draft_kept", 1, 1, 1.0)]
    assert rates(rows, "models")[0] == ("small", 3, 2, 2 / 3)
    assert "| escalated | 2 | 1 | 50% |" in summary_markdown(rows, 30)
