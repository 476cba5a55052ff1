"""Start-up of the real `chainlit run app/main.py`: bad settings, a broken knowledge file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import start_app
from tests.support.processes import ROOT, stop

pytestmark = pytest.mark.e2e

CHAINLIT = str(Path(sys.executable).parent / "chainlit")


def test_invalid_setting_stops_start_up_with_one_line(tmp_path):
    shutil.copytree(ROOT / ".chainlit", tmp_path / ".chainlit")
    proc = subprocess.run(
        [CHAINLIT, "run", str(ROOT / "app" / "main.py"), "--headless", "--port", "1"],
        env={"PATH": "/usr/bin:/bin", "CHAINLIT_APP_ROOT": str(tmp_path), "TOP_K": "0"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["Invalid setting TOP_K='0': Input should be greater than or equal to 1."]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_app_starts_despite_a_corrupt_knowledge_file_and_logs_why(tmp_path):
    knowledge = tmp_path / "kb"
    knowledge.mkdir()
    (knowledge / "guide.md").write_text("# Guide\n\nThe VPN client is called Wirecat.\n")
    (knowledge / "broken.pdf").write_bytes(b"%PDF-1.4 not a pdf")
    app = start_app(tmp_path, "http://127.0.0.1:9/v1", KNOWLEDGE_DIR=str(knowledge))
    try:
        with urllib.request.urlopen(f"{app.url}/health", timeout=5) as r:
            assert r.status == 200
    finally:
        stop(app.process)
    log = app.log.read_text()
    assert "broken.pdf" in log
    assert "indexed 1 documents" in log or "'documents': 1" in log


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_local_mode_warns_when_listening_beyond_loopback(tmp_path, host: str, warned: bool):
    app = start_app(tmp_path, "http://127.0.0.1:9/v1", host=host, AUTH_MODE="local")
    stop(app.process)  # the warning is logged at start-up, before /health answers
    lines = [ln for ln in app.log.read_text().splitlines() if "AUTH_MODE=local on" in ln]
    if warned:
        assert len(lines) == 1, app.log.read_text()[-3000:]
        assert "WARNING" in lines[0] and "0.0.0.0" in lines[0]
        assert "anyone who can reach this port uses the app as the local admin" in lines[0]
    else:
        assert lines == [], lines
