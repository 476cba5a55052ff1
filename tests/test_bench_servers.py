"""The server helpers benchmarks and tests share: a server that dies says why."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.bench_servers import free_port, serving


def test_a_server_that_exits_before_answering_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    dies = [sys.executable, "-c", "print('port already taken', flush=True); raise SystemExit(3)"]
    url = f"http://127.0.0.1:{free_port()}/health"
    with pytest.raises(RuntimeError) as failed, serving(dies, url, log, cwd=tmp_path, timeout=30):
        pass
    assert "exited with status 3" in str(failed.value)
    assert "port already taken" in str(failed.value)
