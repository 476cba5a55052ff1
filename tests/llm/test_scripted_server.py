"""The scripted server as a separate process, driven over its control endpoints."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, free_port, python, spawn, stop, wait_http
from tests.support.scripted_llm import ScriptedLLM


@pytest.fixture(scope="module")
def process_url() -> Iterator[str]:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="scripted-llm-", suffix=".log")[1])
    proc = spawn(
        [python(), "-m", "tests.support.scripted_llm", "--port", str(port)],
        env={},
        cwd=ROOT,
        log=log,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=30, proc=proc, log=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


async def test_script_requests_and_reset_over_http(process_url: str, make_gateway) -> None:
    async with httpx.AsyncClient(base_url=process_url) as control:
        await control.post("/_reset")
        r = await control.post(
            "/_script",
            json={"rules": [{"contains": "refund", "model": "phi", "text": "Within 14 days [1]."}]},
        )
        assert r.json() == {"ok": True, "rules": 1}
        gateway = make_gateway(f"{process_url}/v1")
        messages = [{"role": "user", "content": "What is the refund window?"}]
        done = await gateway.complete("phi-4-mini", messages, temperature=0, max_tokens=32)
        other = await gateway.complete(
            "phi-4-mini",
            [{"role": "user", "content": "Anything else?"}],
            temperature=0,
            max_tokens=32,
        )
        assert done.text == "Within 14 days [1]."
        assert other.text.startswith("This is the scripted test server's default answer")
        log = (await control.get("/_requests")).json()
        assert [entry["rule"] for entry in log] == [0, None]
        assert log[0]["body"]["messages"] == messages
        await control.post("/_reset")
        assert (await control.get("/_requests")).json() == []


async def test_append_and_times_make_a_queue(llm: ScriptedLLM) -> None:
    llm.script([{"times": 1, "text": "first"}])
    llm.add({"times": 1, "text": "second"})
    async with httpx.AsyncClient(base_url=llm.base_url) as client:
        body = {"model": "gpt-oss-20b-generic-cpu", "messages": [{"role": "user", "content": "x"}]}
        texts = [
            (await client.post("/chat/completions", json=body)).json()["choices"][0]["message"][
                "content"
            ]
            for _ in range(3)
        ]
    assert texts[:2] == ["first", "second"]
    assert texts[2].startswith("This is the scripted")


async def test_non_streaming_reply_shape(llm: ScriptedLLM) -> None:
    llm.script([{"text": "Yes [1].", "reasoning": "short", "usage": {"prompt_tokens": 5}}])
    async with httpx.AsyncClient(base_url=llm.base_url) as client:
        body = {
            "model": "gpt-oss-20b-generic-cpu",
            "messages": [{"role": "user", "content": "ok?"}],
            "logprobs": True,
        }
        reply = (await client.post("/chat/completions", json=body)).json()
    choice = reply["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Yes [1].",
        "reasoning_content": "short",
    }
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"]["content"][0]["token"] == "Yes [1]."
    assert reply["usage"]["prompt_tokens"] == 5


async def test_sse_ends_with_done(llm: ScriptedLLM) -> None:
    llm.script([{"text": "abc", "chunk_chars": 1}])
    async with httpx.AsyncClient(base_url=llm.base_url) as client:
        body = {
            "model": "gpt-oss-20b-generic-cpu",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
        }
        async with client.stream("POST", "/chat/completions", json=body) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = [line async for line in r.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert len(lines) == 1 + 3 + 1 + 1  # role, three letters, finish, [DONE]; no usage asked
