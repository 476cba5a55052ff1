"""Model comparison: the same prompt to several models, timed the same way.

`python -m app.compare` is the command-line benchmark; `stream_comparison` (in `view`) is
the pure part of the chat's compare view: one question, one retrieved context, both models
streamed one after the other, and a latency chart. `final_comparison` gives its result whole.
"""

from app.compare.core import (
    CallSample,
    ModelStats,
    final_sample,
    stream_measured_call,
    summarise,
)
from app.compare.view import (
    ComparedAnswer,
    CompareEvent,
    Comparison,
    ContextReady,
    ModelStarted,
    ModelToken,
    final_comparison,
    stream_comparison,
)

__all__ = [
    "CallSample",
    "CompareEvent",
    "ComparedAnswer",
    "Comparison",
    "ContextReady",
    "ModelStarted",
    "ModelStats",
    "ModelToken",
    "final_comparison",
    "final_sample",
    "stream_comparison",
    "stream_measured_call",
    "summarise",
]
