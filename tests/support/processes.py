"""Start real servers as subprocesses for end-to-end tests, and stop them cleanly: the
benchmarks' own helpers (`app.bench_servers`), with the server's log in a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.bench_servers import free_port, start_process, stop_process
from app.bench_servers import wait_http as _wait_http

ROOT = Path(__file__).resolve().parents[2]

spawn = start_process
stop = stop_process


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    try:
        _wait_http(url, timeout, proc)
    except RuntimeError as e:
        raise RuntimeError(f"{e}:\n{log.read_text(errors='replace')[-3000:]}") from None


def python() -> str:
    return sys.executable


__all__ = ["ROOT", "free_port", "python", "spawn", "stop", "wait_http"]
