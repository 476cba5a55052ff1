"""Answering one question from the documents: retrieve, draft, route, escalate.

The chat, the benchmarks and the evaluation use only what is exported here.
"""

from app.answering import events
from app.answering.answerer import Answerer
from app.answering.events import *  # noqa: F403 (the events list their public names)
from app.answering.options import AnswerConfig, AskOptions, Exchange
from app.answering.rendering import format_duration, render_footer
from app.answering.result import AnswerResult, ModelUsage, Route, StepName, StepRecord
from app.answering.safe_markdown import inert_markdown, literal
from app.answering.steps import STEP_OUTPUT_HEADINGS, STEP_TITLES, STEP_TYPES
from app.answering.views import (
    CitationView,
    answer_markdown,
    citation_views,
    details_markdown,
    source_panel,
)

__all__ = [
    *events.__all__,
    "STEP_OUTPUT_HEADINGS",
    "STEP_TITLES",
    "STEP_TYPES",
    "AnswerConfig",
    "AnswerResult",
    "Answerer",
    "AskOptions",
    "CitationView",
    "Exchange",
    "ModelUsage",
    "Route",
    "StepName",
    "StepRecord",
    "answer_markdown",
    "citation_views",
    "details_markdown",
    "format_duration",
    "inert_markdown",
    "literal",
    "render_footer",
    "source_panel",
]
