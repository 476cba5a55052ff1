"""All settings in one place, read from the environment and an optional `.env` file.

Every field maps to one environment variable (the upper-cased field name, except the
Foundry Local pair, which keep the names the Foundry Local docs use). The docstring under
a field is its description, which `--list` prints as the README's table rows. An invalid
value stops start-up with a single line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.retrieval.file_rules import FILE_TYPES

_EXAMPLE = "http://localhost:5273/v1"


def url_problem(url: str) -> str | None:
    """What is wrong with an http(s) URL that urllib would parse anyway, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a non-numeric or out-of-range port
    except ValueError as e:
        return f"not a valid URL: {e}"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "no host name"
    if port == 0:
        return "port 0 is not a valid port"
    return None


class AuthMode(StrEnum):
    LOCAL = "local"
    PASSWORD = "password"
    HEADER = "header"
    OAUTH = "oauth"


class ShareUploads(StrEnum):
    ADMINS = "admins"
    EVERYONE = "everyone"


class QueryExpansion(StrEnum):
    OFF = "off"
    RM3 = "rm3"


class RoutingPolicy(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


# inf and nan are valid floats to pydantic but nonsense for a timeout, a score or a price.
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
        use_attribute_docstrings=True,  # each setting's docstring is its description
    )

    # --- LLM endpoint -------------------------------------------------------------
    endpoint: str = Field(
        "http://localhost:5273/v1", validation_alias=_env("FOUNDRY_LOCAL_ENDPOINT")
    )
    """OpenAI-compatible base URL (Foundry Local, llama.cpp, Ollama, vLLM…)."""
    api_key: str = Field("not-needed", validation_alias=_env("FOUNDRY_LOCAL_API_KEY"))
    """API key sent as a Bearer token; local servers ignore it."""
    draft_model: str = "phi-4-mini"
    """Small model that drafts every answer (alias or full model ID)."""
    escalation_model: str = "gpt-oss-20b"
    """Large model used when the draft is weak (alias or full model ID)."""
    connect_timeout_s: PositiveFloat = 5.0
    """Seconds to wait for the TCP connection to the endpoint."""
    read_timeout_s: PositiveFloat = 120.0
    """Seconds to wait between streamed bytes before giving up."""
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    """Sampling temperature."""
    max_answer_tokens: Annotated[int, Field(ge=16, le=32768)] = 768
    """Upper bound on tokens generated per answer."""
    context_token_budget: Annotated[int, Field(ge=256, le=1_000_000)] = 3000
    """Prompt token budget (system + history + context + question)."""
    history_turns: Annotated[int, Field(ge=0, le=50)] = 3
    """Previous question/answer pairs included for follow-ups."""
    rewrite_followups: bool = True
    """Rewrite follow-up questions into standalone ones before retrieval."""

    # --- Retrieval ----------------------------------------------------------------
    knowledge_dir: Path = Path("knowledge")
    """Folder of shared documents indexed at start-up."""
    index_dir: Path | None = None
    """Index cache folder (default: KNOWLEDGE_DIR/.index)."""
    knowledge_refresh_s: NonNegFloat = 10.0
    """When a chat starts, re-scan KNOWLEDGE_DIR if the last scan is older than this many
    seconds."""
    upload_dir: Path = Path("data/uploads")
    """Durable per-chat storage for files uploaded in the chat."""
    chunk_tokens: Annotated[int, Field(ge=32, le=8192)] = 300
    """Target chunk size in tokens."""
    chunk_overlap: Annotated[int, Field(ge=0, le=4096)] = 45
    """Tokens shared between consecutive chunks (must be < CHUNK_TOKENS)."""
    top_k: Annotated[int, Field(ge=1, le=50)] = 5
    """Chunks retrieved per question."""
    bm25_k1: Annotated[float, Field(ge=0, le=10)] = 1.2
    """BM25 term-frequency saturation."""
    bm25_b: Annotated[float, Field(ge=0, le=1)] = 0.75
    """BM25 length normalisation."""
    bm25_epsilon: Annotated[float, Field(ge=0, le=1)] = 0.25
    """Floor for negative IDF, as a fraction of the mean IDF (rank-bm25)."""
    query_expansion: QueryExpansion = QueryExpansion.OFF
    """rm3: add the words of the top 3 chunks to the query and search again
    (pseudo-relevance feedback); off: search the words as given."""

    # --- Routing ------------------------------------------------------------------
    routing_policy: RoutingPolicy = RoutingPolicy.AUTO
    """auto: escalate on low confidence; always; never."""
    min_draft_tokens: Annotated[int, Field(ge=0, le=4096)] = 12
    """Drafts shorter than this count as 'short'."""
    escalate_below: Annotated[float, Field(ge=0, le=1)] = 0.55
    """Escalate when the draft's confidence is below this value (0–1)."""
    min_retrieval_score: NonNegFloat = 0.5
    """Top BM25 score under which retrieval counts as 'nothing relevant'."""
    show_draft_hint: bool = True
    """Show the escalation model the draft as a hint."""
    draft_price_in_per_1k: NonNegFloat = 0.0
    """Emulated $ per 1k input tokens, draft model."""
    draft_price_out_per_1k: NonNegFloat = 0.0
    """Emulated $ per 1k output tokens, draft model."""
    escalation_price_in_per_1k: NonNegFloat = 0.0
    """Emulated $ per 1k input tokens, escalation model."""
    escalation_price_out_per_1k: NonNegFloat = 0.0
    """Emulated $ per 1k output tokens, escalation model."""

    # --- Web --------------------------------------------------------------------
    allowed_origins: str = ""
    """Comma-separated extra browser origins allowed to call the app (empty: only the app's own
    origin)."""
    max_question_chars: Annotated[int, Field(ge=100, le=100_000)] = 4000
    """Longest question accepted, in characters; longer ones are refused with a message."""

    # --- Uploads ------------------------------------------------------------------
    max_upload_mb: Annotated[float, Field(gt=0, le=1024)] = 20.0
    """Largest file accepted, in MB, for upload and in the knowledge folder."""
    allowed_upload_types: str = ".md,.txt,.pdf,.docx,.html,.htm"
    """Comma-separated file extensions accepted for upload and indexing."""
    max_extracted_chars: Annotated[int, Field(ge=1000, le=100_000_000)] = 2_000_000
    """Text kept per file; the rest is not indexed and the chat says so."""
    parse_timeout_s: Annotated[float, Field(ge=1, le=3600)] = 30.0
    """CPU seconds one file may take to parse before it is refused."""
    parse_memory_mb: Annotated[float, Field(ge=64, le=65536)] = 1024.0
    """Memory one file's parser may use before the file is refused."""
    upload_retention_days: NonNegFloat = 30.0
    """Delete a chat's stored uploads this many days after its last upload (0 = keep forever)."""

    # --- Accounts and persistence ---------------------------------------------------
    data_dir: Path = Path("data")
    """Private folder for the database (SQLite default), stored files and the generated auth
    secret."""
    database_url: str = ""
    """SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user:pass@host/db
    (empty: SQLite at DATA_DIR/app.db)."""
    auth_mode: AuthMode = AuthMode.LOCAL
    """local: no login, one local user; password: accounts in the database; header: a trusted
    SSO proxy header; oauth: Chainlit's OAuth providers."""
    trusted_user_header: str = "X-Forwarded-User"
    """AUTH_MODE=header: the header the SSO proxy sets to the user's name."""
    trusted_groups_header: str = ""
    """AUTH_MODE=header: optional header with the user's comma-separated groups."""
    admin_group: str = "admins"
    """AUTH_MODE=header: members of this group (groups header) are admins."""
    admin_users: str = ""
    """Comma-separated user names that are admins in header and oauth modes."""
    share_uploads: ShareUploads = ShareUploads.ADMINS
    """Who may use 'Add to shared knowledge': admins or everyone."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For/-Proto
    are believed (empty: none, or 127.0.0.1 and ::1 when AUTH_MODE=header)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        problem = url_problem(v)
        if problem:
            raise ValueError(f"must be an http:// or https:// URL such as {_EXAMPLE} ({problem})")
        return v

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: str) -> str:
        origins = [o.strip().rstrip("/") for o in v.split(",") if o.strip()]
        for origin in origins:
            problem = url_problem(origin)
            if problem or urlsplit(origin).path:
                raise ValueError(
                    f"{origin!r} is not an origin; use scheme://host[:port], e.g. "
                    "https://assistant.example.com"
                )
        return ",".join(origins)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: str) -> str:
        networks = []
        for entry in (e.strip() for e in v.split(",") if e.strip()):
            try:
                # Normalised (10.0.0.5/24 -> 10.0.0.0/24): uvicorn reads networks strictly and
                # would otherwise treat one with host bits as a name and trust nobody.
                if "/" in entry:
                    networks.append(str(ipaddress.ip_network(entry, strict=False)))
                else:
                    networks.append(str(ipaddress.ip_address(entry)))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network; use e.g. 10.0.0.5,10.1.0.0/16"
                ) from None
        return ",".join(networks)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        v = v.strip()
        if v and not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(or be empty for SQLite under DATA_DIR)"
            )
        return v

    @field_validator("knowledge_dir", "upload_dir", "index_dir", "data_dir", mode="before")
    @classmethod
    def _path_not_blank(cls, v: object) -> object:
        # An empty value would silently mean "the working directory".
        if isinstance(v, str) and not v.strip():
            raise ValueError("must not be empty (it would mean the working directory)")
        return v

    @field_validator("allowed_upload_types")
    @classmethod
    def _extensions(cls, v: str) -> str:
        exts = [e.strip().lower() for e in v.split(",") if e.strip()]
        bad = [e for e in exts if e not in FILE_TYPES]
        if not exts or bad:
            raise ValueError(f"must be a comma-separated subset of {', '.join(sorted(FILE_TYPES))}")
        return ",".join(exts)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"CHUNK_OVERLAP={self.chunk_overlap} must be smaller than "
                f"CHUNK_TOKENS={self.chunk_tokens}"
            )
        return self

    @model_validator(mode="after")
    def _uploads_stay_private(self) -> Settings:
        # Anything under KNOWLEDGE_DIR is shared with everyone, so private uploads must live
        # elsewhere (and the knowledge folder must not sit inside the upload store).
        uploads, knowledge = self.upload_dir.resolve(), self.knowledge_dir.resolve()
        if uploads == knowledge or knowledge in uploads.parents:
            raise ValueError(
                f"UPLOAD_DIR={str(self.upload_dir)!r} is inside KNOWLEDGE_DIR="
                f"{str(self.knowledge_dir)!r}, which would make private uploads public; "
                "put them in separate folders"
            )
        if uploads in knowledge.parents:
            raise ValueError(
                f"KNOWLEDGE_DIR={str(self.knowledge_dir)!r} is inside UPLOAD_DIR="
                f"{str(self.upload_dir)!r}; put them in separate folders"
            )
        return self

    # --- Derived values (not settings) --------------------------------------------
    @property
    def allowed_origin_list(self) -> list[str]:
        return [o for o in self.allowed_origins.split(",") if o]

    @property
    def upload_extensions(self) -> frozenset[str]:
        return frozenset(self.allowed_upload_types.split(","))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'app.db').resolve()}"

    @property
    def admin_user_set(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.admin_users.split(",") if u.strip())

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir if self.index_dir is not None else self.knowledge_dir / ".index"


def env_name(field: str) -> str:
    """The environment variable that sets `field`: its alias, else the upper-cased name."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


class SettingsError(SystemExit):
    """Raised with a one-line, human-readable message; exits with status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _variable_for(loc: str) -> str | None:
    """pydantic reports the alias it read (any case) or the field name."""
    for name in Settings.model_fields:
        var = env_name(name)
        if loc.lower() in (name, var.lower()):
            return var
    return None


def describe_error(err: ValidationError) -> str:
    """Turn pydantic's report into one line per invalid variable (usually one)."""
    lines = []
    for e in err.errors():
        loc = e.get("loc") or ()
        variable = _variable_for(str(loc[0])) if loc else None
        msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
        if variable:
            lines.append(f"Invalid setting {variable}={e.get('input')!r}: {msg}.")
        else:
            lines.append(f"Invalid setting: {msg}.")
    return " ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read settings; on an invalid value raise SettingsError with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise SettingsError(describe_error(err)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: feeds the README and `--list`."""
    rows = []
    for name, f in Settings.model_fields.items():
        default = f.default
        shown = default.value if isinstance(default, StrEnum) else default
        meaning = " ".join((f.description or "").split())  # docstrings wrap over lines
        rows.append((env_name(name), "" if shown is None else str(shown), meaning))
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m app.config` validates the current environment; `--list` prints every setting."""
    args = sys.argv[1:] if argv is None else argv
    if "--list" in args:
        for var, default, meaning in settings_table():
            print(f"| `{var}` | `{default}` | {meaning} |")
        return 0
    try:
        s = load_settings()
    except SettingsError as e:
        print(e.message, file=sys.stderr)
        return 2
    for name in Settings.model_fields:
        print(f"{env_name(name)}={_shown(name, getattr(s, name))}")
    return 0


def _shown(name: str, value: object) -> object:
    # A database password must not end up in a terminal log.
    if name == "database_url" and isinstance(value, str):
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", value)
    return value


if __name__ == "__main__":
    raise SystemExit(main())
