"""Gateway failures. Each carries `user_message`: one or two plain sentences for staff."""

from __future__ import annotations


class LLMError(Exception):
    user_message: str

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class EndpointUnreachable(LLMError):
    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        self.detail = detail
        super().__init__(
            f"Could not reach the language model server at {url}"
            + (f" ({detail})" if detail else "")
            + ". Start Foundry Local with `foundry service start` and "
            "`foundry model run phi-4-mini`, or the bundled server with `make local-llm`, "
            "and check FOUNDRY_LOCAL_ENDPOINT."
        )


class ModelNotAvailable(LLMError):
    def __init__(self, requested: str, available: list[str]) -> None:
        self.requested = requested
        self.available = list(available)
        listing = ", ".join(self.available) if self.available else "none"
        super().__init__(
            f"The model '{requested}' is not available on the server. "
            f"Available models: {listing}. Load it (e.g. `foundry model run {requested}`) "
            "or set DRAFT_MODEL / ESCALATION_MODEL to one of these."
        )


class LLMTimeout(LLMError):
    def __init__(self, url: str, phase: str, seconds: float) -> None:
        self.url = url
        self.phase = phase  # "connect" or "read"
        self.seconds = seconds
        setting = "CONNECT_TIMEOUT_S" if phase == "connect" else "READ_TIMEOUT_S"
        what = "connect to" if phase == "connect" else "get a reply from"
        super().__init__(
            f"Timed out after {seconds:g} s trying to {what} the language model server at {url}. "
            f"The server may be busy or loading a model; raise {setting} if this persists."
        )


class ContextTooLong(LLMError):
    def __init__(self, model: str, server_text: str) -> None:
        self.model = model
        self.server_text = server_text
        super().__init__(
            f"The question and its context were too long for the model '{model}'. "
            f"Server said: {_clip(server_text)}"
        )


class LLMServerError(LLMError):
    def __init__(self, status: int | None, server_text: str, model: str = "") -> None:
        self.status = status  # None when the failure was not an HTTP status (e.g. a cut stream)
        self.server_text = server_text
        self.model = model
        about = f" for model '{model}'" if model else ""
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(
            f"The language model server returned an error{code}{about}: {_clip(server_text)}"
        )


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
