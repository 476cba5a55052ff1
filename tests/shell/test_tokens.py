"""The tokenizer must load from the bundled vocabulary with the network blocked."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter so nothing is cached, with every socket operation raising.
_PROBE = textwrap.dedent(
    """
    import json, os, socket, time
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(repr(args)[:80])
        raise OSError("network blocked by test")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    t0 = time.perf_counter()
    from app.tokens import count_tokens, decode, encode, get_encoding
    text = "Foundry Local serves phi-4-mini on an OpenAI-compatible API."
    ids = encode(text)
    print(json.dumps({
        "name": get_encoding().name,
        "n": count_tokens(text),
        "roundtrip": decode(ids) == text,
        "hello": encode("hello world"),
        "seconds": time.perf_counter() - t0,
        "attempts": attempts,
    }))
    """
)


def test_tokenizer_works_with_network_blocked(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # Point tiktoken's cache at an empty folder so it could only succeed via the bundle.
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-cache"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["attempts"] == []
    assert out["name"] == "o200k_base"
    assert out["roundtrip"] is True
    # Known o200k_base ids; a different vocabulary would give different numbers.
    assert out["hello"] == [24912, 2375]
    assert 8 <= out["n"] <= 20
    assert out["seconds"] < 10


def test_special_token_text_is_counted_not_rejected():
    from app.tokens import count_tokens

    assert count_tokens("<|endoftext|>") > 1
