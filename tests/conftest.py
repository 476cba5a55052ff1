"""Suite-wide set-up."""

import os
import tempfile

# Importing chainlit creates `.chainlit/` and `.files/` under CHAINLIT_APP_ROOT (default: the
# working directory). Point it at a scratch folder so tests never touch the repo's config.
os.environ.setdefault("CHAINLIT_APP_ROOT", tempfile.mkdtemp(prefix="chainlit-root-"))


def pytest_collection_modifyitems(config, items):
    # Playwright's sync API keeps an event loop running in the main thread while a browser
    # is open; pytest-asyncio tests can't start theirs then. Run browser tests last.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
