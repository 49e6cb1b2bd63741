"""Dot-separated property paths (spec appendix), as push rule conditions and filters'
`event_fields` use them: `content.m\\.relates_to` is the `m.relates_to` of `content`."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4096)
def split_dotted_path(path: str) -> tuple[str, ...]:
    """The path in parts: `\\.` is a literal dot, `\\\\` a backslash, and any other backslash is
    kept as it is."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(path):
        c = path[i]
        if c == "\\" and i + 1 < len(path) and path[i + 1] in ".\\":
            current.append(path[i + 1])
            i += 2
            continue
        if c == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return tuple(parts)
