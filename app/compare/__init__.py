"""Model comparison: the same prompt to several models, timed the same way.

`python -m app.compare` is the command-line benchmark; `compare_question` (in `view`) is the
pure part of the chat's compare view: one question, one retrieved context, both models, and
a latency chart.
"""

from app.compare.core import CallSample, ModelStats, measure_call, summarise
from app.compare.view import ComparedAnswer, Comparison, compare_question

__all__ = [
    "CallSample",
    "ComparedAnswer",
    "Comparison",
    "ModelStats",
    "compare_question",
    "measure_call",
    "summarise",
]
