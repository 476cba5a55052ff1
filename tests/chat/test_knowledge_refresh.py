"""New files in the knowledge folder are picked up when chats start, without a restart."""

import asyncio

from app.config import load_settings
from app.retrieval.library import Library
from app.services import KnowledgeRefresher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def library_for(tmp_path) -> Library:
    kb = tmp_path / "knowledge"
    kb.mkdir()
    (kb / "vpn.md").write_text("# VPN\n\nThe VPN client is called Wirecat.\n")
    return Library.open(load_settings(knowledge_dir=kb, index_dir=tmp_path / "index"))


async def test_refresh_picks_up_added_changed_and_deleted_files(tmp_path):
    lib = library_for(tmp_path)
    clock = Clock()
    refresher = KnowledgeRefresher(lib, interval=10, clock=clock, fresh=True)
    kb = tmp_path / "knowledge"
    (kb / "badge.md").write_text("# Badges\n\nReport a lost badge to the security desk.\n")

    assert await refresher.maybe_refresh() is False  # just opened: no scan yet
    assert lib.search("lost badge", 3) == []

    clock.now += 11
    assert await refresher.maybe_refresh() is True
    assert lib.search("lost badge", 3)[0].chunk.source == "badge.md"

    (kb / "badge.md").unlink()
    (kb / "vpn.md").write_text("# VPN\n\nThe VPN client is now called Tunnelfox.\n")
    clock.now += 5
    assert await refresher.maybe_refresh() is False  # within the interval
    clock.now += 6
    assert await refresher.maybe_refresh() is True
    assert lib.search("lost badge", 3) == []
    assert "Tunnelfox" in lib.search("VPN client", 3)[0].chunk.text
    assert lib.search("Wirecat", 3) == []


async def test_concurrent_chat_starts_scan_once(tmp_path):
    lib = library_for(tmp_path)
    calls = []
    original = lib.sync

    def counting_sync() -> None:
        calls.append(1)
        original()

    lib.sync = counting_sync  # count real syncs; the library itself is untouched
    refresher = KnowledgeRefresher(lib, interval=10)
    results = await asyncio.gather(*(refresher.maybe_refresh() for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert len(calls) == 1
