"""Password accounts in the app's database (table `app_accounts`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.passwords import hash_password, lock_seconds, verify
from app.accounts.roles import ADMIN, USER


@dataclass(frozen=True)
class Account:
    identifier: str
    role: str


class AccountError(ValueError):
    pass


class AccountStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    async def add(self, name: str, password: str, *, admin: bool = False) -> Account:
        name = name.strip()
        if not name or len(name) > 128:
            raise AccountError("the user name must be 1 to 128 characters")
        hashed = await asyncio.to_thread(hash_password, password)
        role = ADMIN if admin else USER
        async with self.engine.begin() as conn:
            exists = await conn.execute(
                text("SELECT 1 FROM app_accounts WHERE identifier = :n"), {"n": name}
            )
            if exists.first():
                raise AccountError(f"user {name!r} already exists")
            await conn.execute(
                text(
                    "INSERT INTO app_accounts (identifier, password_hash, role, created_at) "
                    "VALUES (:n, :h, :r, :c)"
                ),
                {"n": name, "h": hashed, "r": role, "c": datetime.now(UTC).isoformat()},
            )
        return Account(name, role)

    async def list(self) -> list[Account]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT identifier, role FROM app_accounts ORDER BY identifier")
            )
            return [Account(r.identifier, r.role) for r in rows]

    async def remove(self, name: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM app_accounts WHERE identifier = :n"), {"n": name}
            )
        if result.rowcount == 0:
            raise AccountError(f"no user {name!r}")

    async def set_password(self, name: str, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text(
                    "UPDATE app_accounts SET password_hash = :h, failed_logins = 0, "
                    "locked_until = 0 WHERE identifier = :n"
                ),
                {"n": name, "h": hashed},
            )
        if result.rowcount == 0:
            raise AccountError(f"no user {name!r}")

    async def authenticate(self, name: str, password: str) -> Account | None:
        """The account when the password is right and the account isn't locked; else None.

        Every failure lengthens the lock (see `lock_seconds`); a locked account is refused
        even with the right password, so guessing costs time, not just attempts."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT identifier, password_hash, role, failed_logins, locked_until "
                        "FROM app_accounts WHERE identifier = :n"
                    ),
                    {"n": name},
                )
            ).first()
        ok = await asyncio.to_thread(verify, row.password_hash if row else None, password)
        if row is None:
            return None
        now = self.clock()
        if row.locked_until > now:
            return None
        if not ok:
            await self._record_failure(name, row.failed_logins + 1, now)
            return None
        if row.failed_logins:
            await self._record_failure(name, 0, now)
        return Account(row.identifier, row.role)

    async def _record_failure(self, name: str, failures: int, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE app_accounts SET failed_logins = :f, locked_until = :u "
                    "WHERE identifier = :n"
                ),
                {"f": failures, "u": now + lock_seconds(failures), "n": name},
            )
