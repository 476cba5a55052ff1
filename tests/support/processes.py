"""Start real servers as subprocesses for end-to-end tests, and stop them cleanly: the
benchmarks' own helpers (`app.bench_servers`), with the server's log in a failure."""

from __future__ import annotations

import sys

from app.bench_servers import ROOT, free_port, start_process, stop_process, wait_http

spawn = start_process
stop = stop_process


def python() -> str:
    return sys.executable


__all__ = ["ROOT", "free_port", "python", "spawn", "stop", "wait_http"]
