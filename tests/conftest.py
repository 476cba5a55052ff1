"""Suite-wide set-up."""

import os
import tempfile

# Importing chainlit creates `.chainlit/` and `.files/` under CHAINLIT_APP_ROOT (default: the
# working directory). Point it at a scratch folder so tests never touch the repo's config.
os.environ.setdefault("CHAINLIT_APP_ROOT", tempfile.mkdtemp(prefix="chainlit-root-"))
