"""JSON from outside the box, bounded: a message too large or too deep is refused, not parsed."""

from __future__ import annotations

from typing import Any


def depth(value: Any, limit: int) -> int:
    """Nesting depth of decoded JSON, counted without recursion and stopped past `limit`."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest
