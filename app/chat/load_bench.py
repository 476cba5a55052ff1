"""Load benchmark: N concurrent chats through the real app against a direct call.

`python -m app.chat.load_bench [--chats 1,10,40] [--turns 3] [--no-floor]` starts the scripted
OpenAI-compatible server (`tests.support.scripted_llm`, a separate process) and the app
(`chainlit run app/main.py`, a separate process), then, at each concurrency:

- baseline: N direct clients, each sending the same streaming requests one after another
  straight to the scripted server;
- app: N socket.io clients, each a chat asking `--turns` questions one after another, as
  the browser does (websocket transport, Chainlit's own events);
- floor (unless `--no-floor`): the same clients against `app/chat/floor_app.py`, bare
  Chainlit streaming the same answer, to show what the framework itself costs.

The overhead is the app's time minus the direct call's, for the first answer token and
for the whole turn, at p50 and p95. The server's CPU time per turn is read from /proc,
and the clients' own from this process. It prints a table and then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import socketio

from app.bench_servers import APP_SCRIPT, ROOT, app_root, chainlit_run, free_port, serving

QUESTION = "How do I find the port Foundry Local is using?"
# About 90 tokens, streamed in 30 pieces 15 ms apart: a fast small model.
ANSWER = (
    "Foundry Local picks its port when the service starts, so read it from `foundry service "
    "status` and set FOUNDRY_LOCAL_ENDPOINT to that address plus /v1 [1]. The Python SDK can "
    "also report the endpoint of the running service directly, which saves looking it up by "
    "hand each time the service restarts on another port [1]."
)
SCRIPT = {"rules": [{"text": ANSWER, "chunk_chars": 12, "delay_s": 0.015}]}


@dataclass
class Timing:
    ttft_s: float
    total_s: float


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _direct_chat(client: httpx.AsyncClient, base: str, turns: int) -> list[Timing]:
    """One chat's questions one after another, straight to the server: the app's clients
    also ask one question at a time each, so both sides run at the same concurrency."""
    return [await _direct(client, base) for _ in range(turns)]


async def _direct(client: httpx.AsyncClient, base: str) -> Timing:
    body = {
        "model": "Phi-4-mini-instruct-generic-cpu",
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": True,
    }
    t0 = time.perf_counter()
    first = None
    async with client.stream("POST", f"{base}/chat/completions", json=body) as r:
        async for line in r.aiter_lines():
            if first is None and '"content"' in line:
                first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return Timing(first if first is not None else total, total)


async def _connect(sio: socketio.AsyncClient, url: str) -> None:
    """Log in and open the chat's socket, as the browser does."""
    auth = {"sessionId": str(uuid.uuid4()), "clientType": "webapp", "userEnv": "{}"}
    # AUTH_MODE=local logs everyone in as the local user, through Chainlit's header login.
    async with httpx.AsyncClient(timeout=120) as http:
        login = await http.post(f"{url}/auth/header")
    cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
    await sio.connect(
        url,
        socketio_path="/ws/socket.io",
        transports=["websocket"],
        auth=auth,
        headers={"Cookie": cookie},
        wait_timeout=60,  # the client's default (1 s) gives up while 40 chats log in at once
    )
    await sio.emit("connection_successful")


async def _chat(url: str, turns: int) -> list[Timing]:
    """One browser-like chat: connect, wait for the chat to start, ask `turns` questions."""
    sio = socketio.AsyncClient(reconnection=False)
    ready, done = asyncio.Event(), asyncio.Event()
    state: dict[str, float | None] = {"t0": 0.0, "first": None, "started": None}

    @sio.on("*")
    async def _any(event: str, data=None) -> None:
        if event == "chat_settings":  # the last thing on_chat_start sends
            ready.set()
        if event == "task_start" and state["t0"]:
            state["started"] = 1.0
        is_answer = isinstance(data, dict) and data.get("type") == "assistant_message"
        if event in ("stream_start", "new_message") and is_answer and state["first"] is None:
            state["first"] = time.perf_counter() - float(state["t0"] or 0)
        if event == "task_end" and state["started"]:
            done.set()

    await _connect(sio, url)
    await asyncio.wait_for(ready.wait(), 60)
    timings = []
    for _ in range(turns):
        done.clear()
        state["first"] = state["started"] = None
        state["t0"] = time.perf_counter()
        message = {
            "id": str(uuid.uuid4()),
            "name": "User",
            "type": "user_message",
            "output": QUESTION,
            "createdAt": "2026-01-01T00:00:00Z",
        }
        await sio.emit("client_message", {"message": message, "fileReferences": []})
        await asyncio.wait_for(done.wait(), 120)
        total = time.perf_counter() - float(state["t0"] or 0)
        timings.append(Timing(float(state["first"] or total), total))
    await sio.disconnect()
    return timings


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _summary(direct: list[Timing], runs: list[Timing], name: str) -> dict[str, float]:
    """Percentiles of `runs` (named `name`) and their overhead over the direct calls."""
    out = {}
    for part, key in (("ttft", "ttft_s"), ("total", "total_s")):
        d = [getattr(t, key) for t in direct]
        a = [getattr(t, key) for t in runs]
        for q, label in ((0.5, "p50"), (0.95, "p95")):
            out[f"direct_{part}_ms_{label}"] = _pct(d, q) * 1000
            out[f"{name}_{part}_ms_{label}"] = _pct(a, q) * 1000
            out[f"{name}_overhead_{part}_ms_{label}"] = (_pct(a, q) - _pct(d, q)) * 1000
    out["direct_total_ms_mean"] = statistics.mean(t.total_s for t in direct) * 1000
    return out


@dataclass(frozen=True)
class Target:
    """A Chainlit process under test: the app, or the bare-Chainlit floor."""

    name: str
    url: str
    pid: int


async def _level(targets: list[Target], llm_url: str, chats: int, turns: int) -> dict:
    async with httpx.AsyncClient(timeout=120) as client:
        per_direct = await asyncio.gather(
            *[_direct_chat(client, llm_url, turns) for _ in range(chats)]
        )
    direct = [t for chat in per_direct for t in chat]
    row: dict = {"chats": chats, "turns": len(direct)}
    for target in targets:
        # The clients (this process) share the 2 cores with the server under test.
        cpu0, clients0 = _cpu_seconds(target.pid), time.process_time()
        per_chat = await asyncio.gather(*[_chat(target.url, turns) for _ in range(chats)])
        cpu, clients = _cpu_seconds(target.pid) - cpu0, time.process_time() - clients0
        runs = [t for chat in per_chat for t in chat]
        row.update(_summary(direct, runs, target.name))
        row[f"{target.name}_cpu_ms_per_turn"] = cpu / len(runs) * 1000
        row[f"{target.name}_clients_cpu_ms_per_turn"] = clients / len(runs) * 1000
    return row


def _print_table(rows: list[dict], names: list[str]) -> None:
    print(
        "| chats | turns | what | first token p50 / p95 | overhead first token p50 / p95 "
        "| total p50 / p95 | overhead total p50 / p95 | CPU per turn | clients' CPU per turn |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['chats']} | {r['turns']} | direct call "
            f"| {r['direct_ttft_ms_p50']:.0f} / {r['direct_ttft_ms_p95']:.0f} ms | "
            f"| {r['direct_total_ms_p50']:.0f} / {r['direct_total_ms_p95']:.0f} ms | | | |"
        )
        for n in names:
            print(
                f"| {r['chats']} | {r['turns']} | {LABELS[n]} "
                f"| {r[f'{n}_ttft_ms_p50']:.0f} / {r[f'{n}_ttft_ms_p95']:.0f} ms "
                f"| {r[f'{n}_overhead_ttft_ms_p50']:.0f} / {r[f'{n}_overhead_ttft_ms_p95']:.0f} ms "
                f"| {r[f'{n}_total_ms_p50']:.0f} / {r[f'{n}_total_ms_p95']:.0f} ms "
                f"| {r[f'{n}_overhead_total_ms_p50']:.0f} / "
                f"{r[f'{n}_overhead_total_ms_p95']:.0f} ms "
                f"| {r[f'{n}_cpu_ms_per_turn']:.1f} ms "
                f"| {r[f'{n}_clients_cpu_ms_per_turn']:.1f} ms |"
            )


LABELS = {"app": "the app", "floor": "bare Chainlit (floor)"}
SCRIPTS = {"app": APP_SCRIPT, "floor": ROOT / "app" / "chat" / "floor_app.py"}


@contextlib.contextmanager
def _chainlit(name: str, work: Path, llm_url: str) -> Iterator[Target]:
    """`chainlit run` of the named target on a free port, with its own app root, uploads
    and data, for the duration of the block."""
    port, root = free_port(), app_root(work / f"root-{name}")
    no_rewrites = {"REWRITE_FOLLOWUPS": "false"}
    args, env = chainlit_run(root, llm_url, port, script=SCRIPTS[name], env=no_rewrites)
    url = f"http://127.0.0.1:{port}"
    # The page any Chainlit app serves says it is up.
    with serving(args, f"{url}/", work / f"{name}.log", cwd=root, env=env) as proc:
        yield Target(name, url, proc.pid)


def _run_levels(levels: list[int], turns: int, names: list[str]) -> list[dict]:
    """Start the scripted server and the named targets, warm up, measure every level."""
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp, contextlib.ExitStack() as up:
        work = Path(tmp)
        llm_port = free_port()
        llm_url = f"http://127.0.0.1:{llm_port}/v1"
        llm = [sys.executable, "-m", "tests.support.scripted_llm", "--port", str(llm_port)]
        up.enter_context(serving(llm, f"{llm_url}/models", work / "llm.log", cwd=ROOT))
        httpx.post(f"{llm_url[:-3]}/_script", json=SCRIPT).raise_for_status()
        targets = [up.enter_context(_chainlit(name, work, llm_url)) for name in names]
        asyncio.run(_level(targets, llm_url, 1, 1))  # warm-up
        return [asyncio.run(_level(targets, llm_url, n, turns)) for n in levels]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", default="1,10,40", help="comma-separated concurrency levels")
    parser.add_argument("--turns", type=int, default=3, help="questions per chat")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the bare-Chainlit floor measurement"
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.chats.split(",") if x.strip()]
    names = ["app"] if args.no_floor else ["app", "floor"]
    rows = _run_levels(levels, args.turns, names)
    _print_table(rows, names)
    worst = max(rows, key=lambda r: r["chats"])
    summary = {
        "benchmark": "load",
        "levels": rows,
        "overhead_ttft_ms_p95_at_max": round(worst["app_overhead_ttft_ms_p95"], 1),
        "overhead_total_ms_p95_at_max": round(worst["app_overhead_total_ms_p95"], 1),
        "target_ms_p95": 100,
    }
    if not args.no_floor:
        summary["floor_overhead_total_ms_p95_at_max"] = round(
            worst["floor_overhead_total_ms_p95"], 1
        )
        summary["app_cpu_per_turn_vs_floor"] = round(
            worst["app_cpu_ms_per_turn"] / worst["floor_cpu_ms_per_turn"], 2
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
