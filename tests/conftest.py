"""Suite-wide set-up."""

import os
import tempfile
from collections.abc import Iterator

import pytest

# Importing chainlit creates `.chainlit/` and `.files/` under CHAINLIT_APP_ROOT (default: the
# working directory). Point it at a scratch folder so tests never touch the repo's config.
os.environ.setdefault("CHAINLIT_APP_ROOT", tempfile.mkdtemp(prefix="chainlit-root-"))


def pytest_collection_modifyitems(config, items):
    # Playwright's sync API keeps an event loop running in the main thread while a browser
    # is open; pytest-asyncio tests can't start theirs then. Run browser tests last.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


# Property tests explore with a fixed seed by default so a CI run is reproducible;
# HYPOTHESIS_PROFILE=explore searches with fresh random examples.
try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("repeatable", derandomize=True)
    _hypothesis_settings.register_profile("explore", derandomize=False)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass


@pytest.fixture(scope="session")
def _scripted_server() -> Iterator:
    from tests.support.scripted_llm import ScriptedLLM

    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm(_scripted_server):
    """The scripted OpenAI-compatible server (real HTTP/SSE), emptied of rules and logs."""
    _scripted_server.reset()
    return _scripted_server


@pytest.fixture(scope="session")
def local_llm() -> Iterator[str]:
    """The bundled Gemma server (real llama.cpp), started once for every real_llm test."""
    from tests.support.local_llm import start_local_llm
    from tests.support.processes import free_port, stop

    base_url, proc = start_local_llm(free_port())
    try:
        yield base_url
    finally:
        stop(proc)
