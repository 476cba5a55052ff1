"""Match a configured model name against the IDs a server lists (pure functions).

Foundry Local wants full IDs such as `Phi-4-mini-instruct-generic-cpu` (sometimes with a
`:4` version) where people write the alias `phi-4-mini`. Other servers list whatever name
they were started with. The rule, best first:

1. an ID equal to the name (case-sensitive, then case-insensitive);
2. an ID whose *base* (ID without version and device suffix) equals the name;
3. …equals the name plus `-instruct` (the usual chat variant of an alias);
4. an ID whose base starts with the name at a `-`/`_`/`.` boundary;
5. the same comparisons on letters and digits only (`Phi4Mini` ~ `phi-4-mini`), prefixes
   still ending at a boundary (`llama3.2` ~ `llama-3.2-1b`, but `phi-4-min` matches nothing).

Ties keep the server's order, so the first listed (usually the loaded) model wins.
"""

from __future__ import annotations

import re

_VERSION = re.compile(r":\d+$")
# Foundry Local's execution-provider/device suffixes.
_DEVICE = re.compile(
    r"-(generic|cuda|qnn|openvino|vitis|trt|trtrtx|tensorrt|dml|webgpu|migraphx)-(cpu|gpu|npu)$",
    re.IGNORECASE,
)
_BOUNDARY = "-_."


def base_name(model_id: str) -> str:
    """`Phi-4-mini-instruct-generic-cpu:4` -> `phi-4-mini-instruct`."""
    return _DEVICE.sub("", _VERSION.sub("", model_id)).lower()


def _alnum(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def _tier(name: str, model_id: str) -> int | None:
    """How well `model_id` matches `name`: lower is better, None is no match."""
    if model_id == name:
        return 0
    wanted = name.lower().strip()
    if model_id.lower() == wanted:
        return 1
    base = base_name(model_id)
    wanted_base = base_name(wanted)
    if base == wanted_base:
        return 2
    if base == wanted_base + "-instruct":
        return 3
    if base.startswith(wanted_base) and base[len(wanted_base)] in _BOUNDARY:
        return 4
    a_base, a_wanted = _alnum(base), _alnum(wanted_base)
    if a_wanted and a_base == a_wanted:
        return 5
    if a_wanted and a_base == a_wanted + "instruct":
        return 6
    if a_wanted and a_wanted in _segment_prefixes(base):
        return 7
    return None


def _segment_prefixes(base: str) -> set[str]:
    """`llama-3.2-1b` -> {llama, llama3, llama32, llama321b}: prefixes ending at a boundary."""
    out, acc = set(), ""
    for part in re.split(r"[-_.]", base):
        acc += _alnum(part)
        out.add(acc)
    return out


def match_model(name: str, available: list[str]) -> str | None:
    """The best ID in `available` for the configured `name`, or None."""
    best: tuple[int, int] | None = None
    found: str | None = None
    for position, model_id in enumerate(available):
        tier = _tier(name, model_id)
        if tier is not None and (best is None or (tier, position) < best):
            best, found = (tier, position), model_id
    return found
