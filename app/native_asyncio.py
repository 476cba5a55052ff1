"""Give the server asyncio's C tasks and futures back after Chainlit's CLI took them away.

`chainlit run` applies `nest_asyncio` at import, which swaps asyncio's C `Task` and `Future`
for the pure-Python ones so that a running loop can be re-entered. Every await in every chat
then pays for Python-level task steps and future callbacks: with C tasks the app uses
8-10 % less CPU per turn (`make bench-load`, alternating runs). Chainlit re-enters the loop
only to compute chat profiles' settings overrides; this app has no chat profiles, so it
can run on the C classes. The loop class stays nest_asyncio's, which works with either.
"""

from __future__ import annotations

import asyncio
import asyncio.futures
import asyncio.tasks


def restore_c_tasks(*, reentrancy_needed: bool) -> bool:
    """Put the C Task and Future back, unless something needs a re-entrant loop. True if
    the classes in use are the C ones afterwards."""
    try:
        import _asyncio
    except ImportError:  # an interpreter without the C accelerator: nothing to restore
        return False
    if reentrancy_needed:
        return asyncio.Task is _asyncio.Task
    # Every name nest_asyncio rebinds, so code looking either up gets the same class.
    asyncio.Task = asyncio.tasks.Task = asyncio.tasks._CTask = _asyncio.Task  # type: ignore[misc,attr-defined]
    asyncio.Future = asyncio.futures.Future = asyncio.futures._CFuture = _asyncio.Future  # type: ignore[misc,attr-defined]
    return True
