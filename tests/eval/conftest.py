from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.answering.factories import write_folder

# Two small documents whose passages the scripted answers quote, so every metric of a run
# is known by hand.
DOCS = {
    "leave.md": "# Leave policy\n\nFull-time employees receive 25 days of paid annual leave "
    "per calendar year. Up to 5 unused days may be carried over.\n",
    "travel.md": "# Travel\n\nTrain tickets are booked through the travel portal. Hotels "
    "are booked by the office manager.\n",
    "kitchen.md": "# Kitchen\n\nThe kitchen is cleaned every Friday. Label your food in "
    "the fridge.\n",
    "security.md": "# Security\n\nPasswords are rotated every 90 days and must be at least "
    "14 characters long. Report a lost badge to the security desk within 24 hours.\n",
}


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "knowledge", DOCS)


def write_golden(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path
