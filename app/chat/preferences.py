"""Per-chat settings: the widgets shown in the chat, and their values as pipeline options."""

from __future__ import annotations

from typing import Any

from chainlit.input_widget import InputWidget, Select, Slider, Switch

from app.answering import AskOptions
from app.config import RoutingPolicy, Settings


def widgets(settings: Settings) -> list[InputWidget]:
    return [
        Slider(
            id="top_k",
            label="Sources to retrieve (top-k)",
            initial=settings.top_k,
            min=1,
            max=max(20, settings.top_k),  # TOP_K may be set above the usual range
            step=1,
        ),
        Select(
            id="policy",
            label="Routing policy",
            values=[p.value for p in RoutingPolicy],
            initial_value=settings.routing_policy.value,
            description="auto: escalate weak drafts · always: always ask the large model · "
            "never: small model only",
        ),
        Switch(
            id="rewrite",
            label="Rewrite follow-up questions before searching",
            initial=settings.rewrite_followups,
        ),
        Slider(
            id="temperature",
            label="Temperature",
            initial=settings.temperature,
            min=0,
            max=2,
            step=0.1,
        ),
        Switch(
            id="stream_draft",
            label="Show the draft while it is written",
            initial=True,
            description="Off: the answer appears once the router has decided.",
        ),
        Switch(
            id="draft_hint",
            label="Show the large model the draft as a hint",
            initial=settings.show_draft_hint,
        ),
    ]


def preferences(values: dict[str, Any], settings: Settings) -> AskOptions:
    """Chat settings values → options; anything missing or malformed falls back to defaults."""
    base = AskOptions.from_settings(settings)

    def number(key: str, default: float, lo: float, hi: float) -> float:
        try:
            return min(hi, max(lo, float(values.get(key, default))))
        except (TypeError, ValueError):
            return default

    try:
        policy = RoutingPolicy(values.get("policy", base.policy))
    except ValueError:
        policy = base.policy
    return AskOptions(
        top_k=int(number("top_k", base.top_k, 1, 50)),
        policy=policy,
        rewrite=bool(values.get("rewrite", base.rewrite)),
        temperature=number("temperature", base.temperature, 0, 2),
        show_draft_hint=bool(values.get("draft_hint", base.show_draft_hint)),
        stream_draft=bool(values.get("stream_draft", base.stream_draft)),
    )


def restored_widgets(settings: Settings, values: dict[str, Any]) -> list[InputWidget]:
    """The widgets with a resumed chat's saved values as their initial values."""
    restored = widgets(settings)
    for widget in restored:
        if widget.id in values:
            if isinstance(widget, Select):
                widget.initial_value = values[widget.id]
            else:
                widget.initial = values[widget.id]
    return restored
