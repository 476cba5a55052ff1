from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.config import Settings, load_settings


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    d = tmp_path / "knowledge"
    d.mkdir()
    return d


@pytest.fixture
def make_settings(knowledge: Path) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        overrides.setdefault("knowledge_dir", knowledge)
        return load_settings(**overrides)

    return make


def write_docx(path: Path, parts: list[tuple[str, str]], title: str | None = None) -> Path:
    """parts: (style, text); style "table" takes text rows "a|b;c|d"."""
    import docx

    d = docx.Document()
    if title:
        d.core_properties.title = title
    for style, text in parts:
        if style == "table":
            rows = [r.split("|") for r in text.split(";")]
            table = d.add_table(rows=len(rows), cols=len(rows[0]))
            for i, row in enumerate(rows):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = cell
        else:
            d.add_paragraph(text, style=style)
    d.save(str(path))
    return path
