"""The resolved size of a value: how much data it is once every shared reference is followed.

A Python value handed to the API as a parameter override can hold the same list several times
(twenty lists, each four times the one before, are 4^20 items): checking its type, comparing,
or recording it walks every copy. The size counts each item once per use, and each character of
a string, and stops counting just past a limit, so measuring a value costs at most the limit
however large the value is. (What a spec builds with expressions is bounded by the evaluator,
archc.spec.expr, as it builds it.)
"""

from __future__ import annotations

from typing import Any

# Resolved size of one override value.
MAX_VALUE_SIZE = 1_000_000


def resolved_size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Items (one each, lists and mappings included) and string characters in `value`,
    counted through shared references, capped at `limit + 1`.

    Each distinct list is walked once and its size remembered, so that measuring 4^20 items
    built from twenty shared lists takes twenty steps, not 4^20; the walk is iterative, since
    a value may nest as deeply as parameters refer to one another.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, walked = stack.pop()
        if not isinstance(item, (list, tuple, dict)):
            return _scalar_size(item)  # only the value itself is pushed bare
        if walked:
            size = 1
            for child in _children(item):
                size += sizes[id(child)] if id(child) in sizes else _scalar_size(child)
            sizes[id(item)] = min(size, limit + 1)
            continue
        if id(item) in sizes:
            continue
        stack.append((item, True))
        stack.extend(
            (child, False)
            for child in _children(item)
            if isinstance(child, (list, tuple, dict)) and id(child) not in sizes
        )
    return min(sizes[id(value)], limit + 1)


def _children(item: list | tuple | dict) -> list:
    return [*item.keys(), *item.values()] if isinstance(item, dict) else item


def _scalar_size(item: Any) -> int:
    return 1 + (len(item) if isinstance(item, str) else 0)
