"""Run a benchmark script in a child process, on this checkout or on another git ref.

A child gives each measurement a fresh heap and lets the parent read the child's own
peak RSS (`os.wait4` returns its rusage). `source_tree(ref)` extracts the `app`
package of a git ref with `git archive`, so the same public-API scenario can run on the
code before a change, in the same run, as its baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]


def source_tree(ref: str | None, tmp: Path) -> Path:
    """This checkout's root, or the code of git `ref` extracted under `tmp`."""
    if ref is None:
        return HERE
    out = tmp / ref.replace("/", "_")
    if not out.exists():
        out.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", ref, "app"], cwd=HERE, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def run_script(root: Path, script: Path, args: list[str]) -> tuple[dict, float]:
    """Run `script` as __main__ with `app` imported from `root`: (its last JSON line, its
    peak RSS in MB)."""
    code = (
        "import runpy, sys; "
        f"sys.path.insert(0, {str(root)!r}); "
        f"sys.argv = {[str(script), *args]!r}; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} {args} exited with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024
