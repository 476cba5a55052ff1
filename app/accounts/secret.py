"""CHAINLIT_AUTH_SECRET signs login cookies. When it isn't set, generate one once and keep
it in DATA_DIR (mode 0600), so logins survive restarts and every replica sharing DATA_DIR
accepts the same cookies."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = ".chainlit_auth_secret"
ENV = "CHAINLIT_AUTH_SECRET"


def load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # private when we create it
    try:
        # O_EXCL: if two replicas start together, one creates it and the other reads it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def ensure_auth_secret(data_dir: Path) -> None:
    if not os.environ.get(ENV):
        os.environ[ENV] = load_or_create_secret(data_dir)
