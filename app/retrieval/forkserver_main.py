"""Imported once in the parser fork server, before any child is forked: tells the
children that the parent's `__main__` is already "imported", so they skip importing it.

multiprocessing makes every child import the parent's main module (for `chainlit run`,
the chainlit CLI: 4-5 s of CPU per child). Python 3.11's fork server is meant to import it
once itself, but drops the path on the way. The children need nothing from it: they run
one function from app.retrieval.parsepool. The parent passes its main module's name or
path in the environment (see isolation._ensure_forkserver).
"""

from __future__ import annotations

import os
import sys
import types

MAIN_PATH_ENV = "GROUNDED_PARSER_PARENT_MAIN_PATH"
MAIN_NAME_ENV = "GROUNDED_PARSER_PARENT_MAIN_NAME"

_main = sys.modules["__main__"]
if os.environ.get(MAIN_PATH_ENV):
    # spawn._fixup_main_from_path returns early when __main__.__file__ already matches.
    _main.__file__ = os.environ[MAIN_PATH_ENV]
if os.environ.get(MAIN_NAME_ENV):
    # spawn._fixup_main_from_name returns early when __main__.__spec__.name matches.
    _main.__spec__ = types.SimpleNamespace(name=os.environ[MAIN_NAME_ENV])  # type: ignore[assignment]
