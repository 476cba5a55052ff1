"""`python -m app.feedback export --format csv|jsonl [--since YYYY-MM-DD]`: every rating,
one row each, on stdout (row shape in `export.py` and the README)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from sqlalchemy.ext.asyncio import create_async_engine

from app.config import SettingsError, load_settings
from app.feedback.export import as_csv, as_jsonl, fetch_rows


def _since(value: str) -> str:
    return date.fromisoformat(value).isoformat()  # refuses anything but a date


async def _export(fmt: str, since: str) -> str:
    engine = create_async_engine(load_settings().resolved_database_url)
    try:
        rows = await fetch_rows(engine, since)
    finally:
        await engine.dispose()
    return as_csv(rows) if fmt == "csv" else as_jsonl(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.feedback")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="print one row per rating")
    ex.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    ex.add_argument("--since", type=_since, default=None, help="answers on or after this date")
    args = p.parse_args(argv)
    try:
        sys.stdout.write(asyncio.run(_export(args.format, args.since or "")))
    except SettingsError as e:
        print(e.message, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
