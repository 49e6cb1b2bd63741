"""JSON from outside the server (request bodies, query parameters, tokens a client hands back),
parsed with a bound on nesting depth.

Python's parser recurses once per level and raises RecursionError near 1,000 levels; and JSON that
parses may still be deep enough to exhaust the stack later (schema validation, canonical encoding,
redaction, the event and filter code all recurse). So input deeper than MAX_DEPTH is refused here,
before anything else sees it."""

from __future__ import annotations

import json
from typing import Any

# Nesting levels of objects and arrays allowed. Matrix content is shallow; a signed event with its
# content inside stays far below this.
MAX_DEPTH = 100


class JsonTooDeep(ValueError):
    """Valid JSON, nested more than MAX_DEPTH levels."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: str | bytes) -> Any:
    """Parse JSON (strict: no NaN or Infinity). ValueError when it is not JSON (bytes that are not
    UTF-8 included), JsonTooDeep when it nests too deep."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as e:
        raise ValueError(str(e)) from None
    # Fewer brackets than the limit cannot nest deeper than it: the common case skips the walk.
    brackets = raw.count("[" if isinstance(raw, str) else b"[") + raw.count("{" if isinstance(raw, str) else b"{")
    if brackets > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} levels")
    return value


def depth(value: Any) -> int:
    """Levels of objects and arrays in a parsed value (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest
