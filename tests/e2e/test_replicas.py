"""Two app processes (different ports) on one PostgreSQL and one shared DATA_DIR: a chat
started on one resumes on the other, with its upload searchable and citations clickable."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import ask, attach, start_app
from tests.e2e.test_accounts_and_resume import (
    RUNBOOK,
    check_resumed,
    login,
    open_first_chat,
    wait_done,
)
from tests.support.postgres import postgres_server
from tests.support.processes import stop
from tests.support.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.e2e


def test_chat_started_on_one_replica_resumes_on_the_other(
    browser: Browser, llm: ScriptedLLM, tmp_path: Path
):
    llm.reset()
    data = tmp_path / "shared"
    with postgres_server() as url:
        env = {
            "AUTH_MODE": "password",
            "DATABASE_URL": url,
            "DATA_DIR": str(data),
            "UPLOAD_DIR": str(data / "uploads"),
        }
        replicas = []
        try:
            replicas.append(start_app(tmp_path / "a", llm.base_url, **env))
            replicas.append(start_app(tmp_path / "b", llm.base_url, **env))
            _add_user(data, url)
            page = login(browser, replicas[0].url, "ann", "ann-password-1")
            doc = tmp_path / "heron-runbook.md"
            doc.write_text(RUNBOOK)
            attach(page, doc)
            ask(page, "How often does the Heron cluster rotate its signing keys?")
            wait_done(page, n=2)
            page.close()

            other = login(browser, replicas[1].url, "ann", "ann-password-1")
            open_first_chat(other)
            check_resumed(other, llm)
            other.close()
        finally:
            for server in replicas:
                stop(server.process)


def _add_user(data: Path, url: str) -> None:
    import os
    import subprocess
    import sys

    from tests.support.processes import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(data), "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "app.users", "add", "ann", "--password-stdin"],
        input="ann-password-1",
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
