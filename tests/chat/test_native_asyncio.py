"""The server runs on asyncio's C tasks although `chainlit run` installs nest_asyncio."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Each case runs in a fresh interpreter: nest_asyncio patches asyncio process-wide.
_PROGRAM = textwrap.dedent(
    """
    import asyncio, _asyncio
    import chainlit.cli  # applies nest_asyncio, as `chainlit run` does
    assert asyncio.Task is asyncio.tasks._PyTask, "nest_asyncio was not applied"
    from app.native_asyncio import restore_c_tasks

    print(restore_c_tasks(reentrancy_needed={needed}))

    async def work():
        queue = asyncio.Queue()
        async def produce():
            for i in range(3):
                await queue.put(i)
        async def slow():
            await asyncio.sleep(10)
        await asyncio.gather(produce(), asyncio.to_thread(sum, [1, 2]))
        try:
            await asyncio.wait_for(slow(), 0.01)
        except asyncio.TimeoutError:
            pass
        task = asyncio.create_task(slow())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, 5)
        return [queue.qsize(), await fut, type(task).__module__, type(fut).__module__]

    print(asyncio.run(work()))
    """
)


def _run(needed: bool) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(needed=needed)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")


def test_c_tasks_are_restored_and_the_loop_still_works():
    restored, result = _run(needed=False)[:2]
    assert restored == "True"
    # Tasks and futures made on the running loop are the C ones (module `_asyncio`).
    assert result == "[3, 5, '_asyncio', '_asyncio']"


def test_a_reentrant_loop_keeps_the_python_tasks():
    restored, result = _run(needed=True)[:2]
    assert restored == "False"
    assert result == "[3, 5, 'asyncio.tasks', 'asyncio.futures']"
