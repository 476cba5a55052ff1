"""A throw-away PostgreSQL server for tests: initdb + pg_ctl in a temp folder, on a free
port, as an unprivileged user (initdb refuses to run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")


def _run(cmd: list[str], user: str | None) -> None:
    proc = subprocess.run(_as_user(cmd, user), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a postgresql+asyncpg:// URL to an empty database; stop and delete afterwards.

    The folder is made under /tmp directly: pytest's own temp folders are private to root,
    and the server runs as another user."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("PostgreSQL is required: run `make postgres`")
    user = _unprivileged_user()
    workdir = Path(tempfile.mkdtemp(prefix="pgtest-"))
    data = workdir / "pgdata"
    if user:
        shutil.chown(workdir, user)
    port = free_port()
    try:
        _run([initdb, "-D", str(data), "-A", "trust", "-U", "app", "--no-sync", "-E", "UTF8"], user)
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(workdir / "pg.log")
        _run([pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "start"], user)
        yield f"postgresql+asyncpg://app@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], user),
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)
