"""Reducers for per-turn fields that parallel nodes append to and each turn resets."""

from __future__ import annotations

from typing import Any

RESET = "__reset__"
"""Write ``RESET`` (alone, or as the first item of a list) to clear a per-turn field."""


def extend_or_reset(left: list | None, right: Any) -> list:
    """Append ``right`` to ``left``; ``RESET`` (or ``[RESET, *items]``) starts over.

    Example:
        >>> extend_or_reset(["a"], ["b"])
        ['a', 'b']
        >>> extend_or_reset(["a"], [RESET, "b"])
        ['b']
    """
    if right == RESET:
        return []
    items = list(right or [])
    if items and items[0] == RESET:
        return items[1:]
    return list(left or []) + items


def merge_usage(left: dict | None, right: dict | None) -> dict:
    """Sum usage counters; ``{RESET: True, ...}`` starts a fresh tally.

    Example:
        >>> merge_usage({"llm_calls": 1}, {"llm_calls": 2, "ms_per_node": {"generate": 3.0}})
        {'llm_calls': 3, 'tokens': 0, 'ms_per_node': {'generate': 3.0}}
    """
    right = dict(right or {})
    base = {} if right.pop(RESET, False) else dict(left or {})
    out = {
        "llm_calls": base.get("llm_calls", 0) + right.get("llm_calls", 0),
        "tokens": base.get("tokens", 0) + right.get("tokens", 0),
        "ms_per_node": dict(base.get("ms_per_node", {})),
    }
    for node, ms in right.get("ms_per_node", {}).items():
        out["ms_per_node"][node] = round(out["ms_per_node"].get(node, 0.0) + ms, 2)
    return out
