"""Servers a benchmark starts for itself: a free port, a child process with its output in a
log file, a wait until it answers HTTP, and a stop; and how to run the app (or another
Chainlit script) from a throw-away app root. Used by the load and follow-up benchmarks and
by the tests' server fixtures (tests/support/processes.py, tests/e2e/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
APP_SCRIPT = ROOT / "app" / "main.py"


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


def app_root(folder: Path) -> Path:
    """A throw-away Chainlit app root at `folder`: copies of the config, chainlit.md, public/
    and the knowledge (without its index), so a run writes nothing into the repository."""
    folder.mkdir(parents=True)
    for name in (".chainlit", "public", "knowledge"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns(".index"))
    shutil.copy(ROOT / "chainlit.md", folder / "chainlit.md")
    return folder


def chainlit_run(
    root: Path,
    endpoint: str,
    port: int,
    *,
    script: Path = APP_SCRIPT,
    host: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The arguments and environment of `chainlit run script` on `port` from the app root
    `root` (see app_root), with its knowledge, uploads and data inside that root and the
    models at `endpoint`; `host` is Chainlit's --host (default 127.0.0.1); `env` adds to or
    overrides the settings."""
    chainlit = str(Path(sys.executable).parent / "chainlit")
    args = [chainlit, "run", str(script), "--headless", "--port", str(port)]
    settings = {
        "PYTHONPATH": str(ROOT),
        "CHAINLIT_APP_ROOT": str(root),
        "FOUNDRY_LOCAL_ENDPOINT": endpoint,
        "KNOWLEDGE_DIR": str(root / "knowledge"),
        "UPLOAD_DIR": str(root / "uploads"),
        "DATA_DIR": str(root / "data"),
    }
    return args + (["--host", host] if host else []), {**settings, **(env or {})}
