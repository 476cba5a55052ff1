"""Accounts: hashing, the slow-down after failures, the CLI, header and local identities."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.accounts.callbacks import is_loopback
from app.accounts.identity import header_user, local_user, oauth_user
from app.accounts.passwords import lock_seconds
from app.accounts.roles import is_admin, may_share
from app.accounts.secret import SECRET_FILE, load_or_create_secret
from app.accounts.store import AccountError, AccountStore
from app.config import load_settings
from app.persistence.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def store(tmp_path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await migrate(engine)
    clock = {"now": 1000.0}
    yield AccountStore(engine, clock=lambda: clock["now"]), clock
    await engine.dispose()


async def test_password_login_and_roles(store):
    accounts, _ = store
    await accounts.add("ann", "correct horse", admin=True)
    await accounts.add("ben", "battery staple")
    assert [(a.identifier, a.role) for a in await accounts.list()] == [
        ("ann", "admin"),
        ("ben", "user"),
    ]
    assert (await accounts.authenticate("ann", "correct horse")).role == "admin"
    assert await accounts.authenticate("ann", "wrong password") is None
    assert await accounts.authenticate("nobody", "correct horse") is None
    with pytest.raises(AccountError):
        await accounts.add("ann", "another password")
    with pytest.raises(ValueError):
        await accounts.add("cat", "short")


async def test_repeated_failures_lock_the_account_for_longer_each_time(store):
    accounts, clock = store
    await accounts.add("ann", "correct horse")
    for _ in range(3):
        assert await accounts.authenticate("ann", "guess") is None
    # Locked now: even the right password is refused until the lock runs out.
    assert await accounts.authenticate("ann", "correct horse") is None
    clock["now"] += lock_seconds(3) + 0.1
    assert await accounts.authenticate("ann", "correct horse") is not None
    assert [lock_seconds(n) for n in (1, 2, 3, 4, 5, 20)] == [0, 0, 2, 4, 8, 300]


async def test_set_password_and_remove(store):
    accounts, _ = store
    await accounts.add("ann", "correct horse")
    await accounts.set_password("ann", "new password!")
    assert await accounts.authenticate("ann", "correct horse") is None
    assert await accounts.authenticate("ann", "new password!") is not None
    await accounts.remove("ann")
    with pytest.raises(AccountError):
        await accounts.remove("ann")


def _cli(tmp_path, *args, stdin=""):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "app.users", *args],
        input=stdin,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


def test_users_cli(tmp_path):
    assert (
        _cli(tmp_path, "add", "ann", "--password-stdin", "--admin", stdin="pw-123456\n").returncode
        == 0
    )
    assert _cli(tmp_path, "add", "ben", "--password-stdin", stdin="pw-654321\n").returncode == 0
    assert _cli(tmp_path, "list").stdout.split() == ["ann", "admin", "ben", "user"]
    assert (
        _cli(tmp_path, "set-password", "ben", "--password-stdin", stdin="new-pw-123\n").returncode
        == 0
    )
    assert _cli(tmp_path, "remove", "ben").returncode == 0
    missing = _cli(tmp_path, "remove", "ben")
    assert missing.returncode == 2 and missing.stderr.strip() == "Error: no user 'ben'"


def test_header_identity_and_admin_group(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = load_settings(trusted_groups_header="X-Forwarded-Groups", admin_users="root")
    assert header_user({}, s) is None
    plain = header_user({"X-Forwarded-User": "ann", "X-Forwarded-Groups": "staff"}, s)
    assert plain.identifier == "ann" and not is_admin(plain)
    boss = header_user({"X-Forwarded-User": "bob", "X-Forwarded-Groups": "staff, admins"}, s)
    assert is_admin(boss)
    assert is_admin(header_user({"X-Forwarded-User": "root"}, s))
    assert is_admin(local_user())
    assert not may_share(plain, s) and may_share(boss, s)
    assert may_share(plain, load_settings(share_uploads="everyone"))
    default = oauth_user("github", local_user(), s)
    assert default.metadata["provider"] == "github" and not is_admin(default)


def test_auth_secret_is_generated_once_and_private(tmp_path):
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first and len(first) >= 32
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_oauth_identity_role_and_missing_claim(monkeypatch, tmp_path):
    from chainlit.user import User

    monkeypatch.chdir(tmp_path)
    s = load_settings(admin_users="ann@example.org")
    ann = oauth_user("generic", User(identifier="ann@example.org"), s, {"name": "Ann"})
    assert is_admin(ann) and ann.display_name == "Ann"
    assert ann.metadata == {"role": "admin", "provider": "generic"}
    ben = oauth_user("generic", User(identifier="ben@example.org"), s, {"name": 7})
    assert not is_admin(ben) and ben.display_name is None
    # An empty or absurdly long identifier claim signs nobody in.
    assert oauth_user("generic", User(identifier=" "), s) is None
    assert oauth_user("generic", User(identifier="a" * 257), s) is None
