"""Model-name resolution: the pure matcher, then against the scripted server's list."""

from __future__ import annotations

import pytest

from app.llm import LLMGateway, ModelNotAvailable
from app.llm.models import base_name, match_model
from tests.support.scripted_llm import ScriptedLLM

FOUNDRY = [
    "Phi-4-mini-reasoning-generic-cpu",
    "Phi-4-mini-instruct-generic-cpu",
    "Phi-4-generic-cpu",
    "gpt-oss-20b-generic-cpu",
    "qwen2.5-0.5b-instruct-generic-cpu:3",
]


def test_base_name_drops_version_and_device() -> None:
    assert base_name("qwen2.5-0.5b-instruct-generic-cpu:3") == "qwen2.5-0.5b-instruct"
    assert base_name("Phi-4-mini-instruct-cuda-gpu") == "phi-4-mini-instruct"
    assert base_name("llama3.2") == "llama3.2"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Phi-4-mini-reasoning-generic-cpu", "Phi-4-mini-reasoning-generic-cpu"),  # exact ID
        ("phi-4-mini-instruct-generic-cpu", "Phi-4-mini-instruct-generic-cpu"),  # any case
        ("phi-4-mini", "Phi-4-mini-instruct-generic-cpu"),  # alias -> instruct, not reasoning
        ("phi-4", "Phi-4-generic-cpu"),  # not the longer phi-4-mini
        ("gpt-oss-20b", "gpt-oss-20b-generic-cpu"),
        ("qwen2.5-0.5b", "qwen2.5-0.5b-instruct-generic-cpu:3"),
        ("Phi4Mini", "Phi-4-mini-instruct-generic-cpu"),  # letters and digits only
        ("llama-3.2", None),
        ("phi-4-min", None),  # a prefix must end at a word boundary
    ],
)
def test_match_model(name: str, expected: str | None) -> None:
    assert match_model(name, FOUNDRY) == expected


def test_exact_id_beats_alias_even_when_listed_later() -> None:
    assert match_model("phi-4-mini", ["phi-4-mini-instruct", "phi-4-mini"]) == "phi-4-mini"


async def test_resolves_foundry_alias_against_server(llm: ScriptedLLM, gateway: LLMGateway) -> None:
    assert await gateway.list_models() == [
        "Phi-4-mini-instruct-generic-cpu",
        "gpt-oss-20b-generic-cpu",
    ]
    assert await gateway.resolve_model("phi-4-mini") == "Phi-4-mini-instruct-generic-cpu"
    assert await gateway.resolve_model("gpt-oss-20b") == "gpt-oss-20b-generic-cpu"
    llm.add({"text": "ok"})
    done = await gateway.complete(
        "phi-4-mini", [{"role": "user", "content": "hi"}], temperature=0, max_tokens=8
    )
    assert (done.model, done.model_id) == ("phi-4-mini", "Phi-4-mini-instruct-generic-cpu")
    assert llm.requests[-1]["model"] == "Phi-4-mini-instruct-generic-cpu"


async def test_no_match_lists_available_models(gateway: LLMGateway) -> None:
    with pytest.raises(ModelNotAvailable) as info:
        await gateway.resolve_model("llama-3.2-1b")
    err = info.value
    assert err.requested == "llama-3.2-1b"
    assert err.available == ["Phi-4-mini-instruct-generic-cpu", "gpt-oss-20b-generic-cpu"]
    assert "llama-3.2-1b" in err.user_message
    assert "Phi-4-mini-instruct-generic-cpu, gpt-oss-20b-generic-cpu" in err.user_message


async def test_unknown_model_refreshes_list_once_and_follows_it(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    assert await gateway.resolve_model("phi-4-mini") == "Phi-4-mini-instruct-generic-cpu"
    # The server swaps to a different build of the model: the cached ID now gives 404.
    llm.script([{"text": "from the new build"}], models=["Phi-4-mini-instruct-cuda-gpu"])
    done = await gateway.complete(
        "phi-4-mini", [{"role": "user", "content": "hi"}], temperature=0, max_tokens=8
    )
    assert done.text == "from the new build"
    assert done.model_id == "Phi-4-mini-instruct-cuda-gpu"
    assert [(r["body"]["model"], r["status"]) for r in llm.log] == [
        ("Phi-4-mini-instruct-generic-cpu", 404),
        ("Phi-4-mini-instruct-cuda-gpu", 200),
    ]


async def test_model_listed_but_refused_is_not_available(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    # Listed in the catalogue but not loaded: the server says so for every request.
    llm.script([{"status": 400, "error": "Model Phi-4-mini-instruct-generic-cpu is not loaded"}])
    with pytest.raises(ModelNotAvailable) as info:
        await gateway.complete(
            "phi-4-mini", [{"role": "user", "content": "hi"}], temperature=0, max_tokens=8
        )
    assert "gpt-oss-20b-generic-cpu" in info.value.user_message
    assert len(llm.log) == 1  # refreshed the list once, no blind retry of the same ID


async def test_model_gone_after_refresh_lists_what_is_left(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    await gateway.resolve_model("phi-4-mini")
    llm.script([], models=["gpt-oss-20b-generic-cpu"])
    with pytest.raises(ModelNotAvailable) as info:
        await gateway.complete(
            "phi-4-mini", [{"role": "user", "content": "hi"}], temperature=0, max_tokens=8
        )
    assert info.value.available == ["gpt-oss-20b-generic-cpu"]


async def test_model_loaded_after_a_failed_lookup_is_found_next_time(
    llm: ScriptedLLM, gateway: LLMGateway
) -> None:
    # Staff start the app, see "not available", run `foundry model run phi-4-mini`, ask again.
    llm.script([], models=["qwen2.5-0.5b-instruct-generic-cpu"])
    with pytest.raises(ModelNotAvailable):
        await gateway.resolve_model("phi-4-mini")
    llm.script([], models=["qwen2.5-0.5b-instruct-generic-cpu", "Phi-4-mini-instruct-generic-cpu"])
    assert await gateway.resolve_model("phi-4-mini") == "Phi-4-mini-instruct-generic-cpu"
