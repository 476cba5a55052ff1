"""LLM gateway: one async OpenAI-compatible client with model-name resolution, streaming with
timing, reasoning kept apart from the answer, and failures turned into messages for staff."""

from app.llm.errors import (
    ContextTooLong,
    EndpointUnreachable,
    LLMError,
    LLMServerError,
    LLMTimeout,
    ModelNotAvailable,
)
from app.llm.gateway import LLMGateway
from app.llm.types import Completion, Timing, TokenEvent

__all__ = [
    "Completion",
    "ContextTooLong",
    "EndpointUnreachable",
    "LLMError",
    "LLMGateway",
    "LLMServerError",
    "LLMTimeout",
    "ModelNotAvailable",
    "Timing",
    "TokenEvent",
]
