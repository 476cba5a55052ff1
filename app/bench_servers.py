"""Servers a benchmark starts for itself: a free port, a child process with its output in a
log file, a wait until it answers HTTP, and a stop. Used by the load and follow-up
benchmarks and by the tests' server fixtures (tests/support/processes.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str,
    timeout: float = 120,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Return once `url` answers below 500; raise if it doesn't in time or `proc` exits,
    with the end of the server's `log` in the error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            exited = f"{url}: the server exited with status {proc.returncode}"
            raise RuntimeError(exited + _tail(log))
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.25)
    raise RuntimeError(f"{url} did not come up" + _tail(log))


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + log.read_text(errors="replace")[-3000:]


def start_process(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen) -> None:
    """End the server and whatever it started (its own session, so its whole group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def serving(
    args: list[str],
    ready_url: str,
    log: Path,
    *,
    cwd: Path,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen]:
    """Run a server for the duration of the block; the log's tail is in the error if it
    never comes up."""
    proc = start_process(args, {"PYTHONPATH": str(cwd), **(env or {})}, cwd, log)
    try:
        wait_http(ready_url, timeout, proc, log)
        yield proc
    finally:
        stop_process(proc)
