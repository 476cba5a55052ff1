"""`python -m app.users add NAME --password-stdin [--admin] | list | remove NAME |
set-password NAME --password-stdin`: manage AUTH_MODE=password accounts.

Passwords are read from stdin, never from the command line (where `ps` and shell history
would keep them)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy.ext.asyncio import create_async_engine

from app.accounts.store import AccountError, AccountStore
from app.config import SettingsError, load_settings
from app.persistence.migrate import migrate
from app.persistence.setup import DatabaseError, _prepare_folders


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app.users", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", required=True)
    add.add_argument("--admin", action="store_true", help="may share uploads, sees stats")
    sub.add_parser("list", help="list users and roles")
    rm = sub.add_parser("remove", help="delete a user's login (their chats stay)")
    rm.add_argument("name")
    pw = sub.add_parser("set-password", help="replace a password; clears the lock-out")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", required=True)
    return p


def _read_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


async def _run(args: argparse.Namespace) -> str:
    settings = load_settings()
    _prepare_folders(settings)
    engine = create_async_engine(settings.resolved_database_url)
    try:
        await migrate(engine)
        store = AccountStore(engine)
        if args.command == "add":
            account = await store.add(args.name, _read_password(), admin=args.admin)
            return f"Added {account.identifier} ({account.role})."
        if args.command == "list":
            return "\n".join(f"{a.identifier}\t{a.role}" for a in await store.list())
        if args.command == "remove":
            await store.remove(args.name)
            return f"Removed {args.name}."
        await store.set_password(args.name, _read_password())
        return f"Password changed for {args.name}."
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        out = asyncio.run(_run(args))
    except (AccountError, ValueError, SettingsError, DatabaseError) as e:
        print(f"Error: {getattr(e, 'message', None) or e}", file=sys.stderr)
        return 2
    if out:
        print(out)
    return 0
