"""The type rule reads a name's extension exactly as pathlib does, without building a path
for a plain file name (a folder scan asks for every file)."""

from __future__ import annotations

from pathlib import PurePath

from hypothesis import given
from hypothesis import strategies as st

from app.retrieval.file_rules import FILE_TYPES, type_problem

ALLOWED = frozenset(FILE_TYPES)


@given(st.text(alphabet="a.:/\\ é\x00_-", max_size=12))
def test_a_names_extension_is_pathlibs(name):
    ext = PurePath(name).suffix.lower()
    assert (type_problem(name, ALLOWED) is None) == (ext in ALLOWED)


def test_names_and_reasons():
    assert type_problem("Notes.MD", ALLOWED) is None
    assert type_problem("dir/report.pdf", ALLOWED) is None
    assert type_problem("a.md/", ALLOWED) is None  # pathlib drops the trailing slash
    for name in ("notes", "notes.", ".md", "x/."):
        assert type_problem(name, ALLOWED).startswith("no extension files are not supported")
    assert type_problem("x.exe", ALLOWED).startswith(".exe files are not supported (use ")
