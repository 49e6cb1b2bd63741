"""JSON from outside the server (request bodies, query parameters, tokens a client hands back),
parsed with a bound on nesting depth, and with numbers JSON implementations agree on.

Python's parser recurses once per level and raises RecursionError near 1,000 levels; and JSON that
parses may still be deep enough to exhaust the stack later (schema validation, canonical encoding,
redaction, the event and filter code all recurse). So input deeper than MAX_DEPTH is refused here,
before anything else sees it.

Integers outside the canonical JSON range [-(2**53)+1, 2**53-1] are refused too (they overflow
64-bit database columns, and other implementations cannot represent them), as are numbers too big
for a float (`1e400` would be infinity, which JSON cannot express).

A `\\uD800`-style escape not paired with its other half parses to a lone surrogate, a string
no UTF-8 encoder accepts: stored, it would make every later encode of it fail (the event's hash,
each /sync response that carries it). Such input is refused here too."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from homeserver.api.numbers import MAX_SAFE_INTEGER, MIN_SAFE_INTEGER

# Nesting levels of objects and arrays allowed. Matrix content is shallow; a signed event with its
# content inside stays far below this.
MAX_DEPTH = 100


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


class BadJson(ValueError):
    """Valid JSON the server refuses (400 M_BAD_JSON)."""


class JsonTooDeep(BadJson):
    """Valid JSON, nested more than MAX_DEPTH levels."""


class JsonNumberOutOfRange(BadJson):
    """Valid JSON with an integer outside the canonical range, or a number beyond a float's."""


class LoneSurrogate(BadJson):
    """Valid JSON with a string holding half of a UTF-16 surrogate pair: not Unicode text."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int:
    # The length test first: int() of thousands of digits is slow (and refused past 4300).
    if len(text) > 17 or not MIN_SAFE_INTEGER <= int(text) <= MAX_SAFE_INTEGER:
        raise JsonNumberOutOfRange(f"Integer {text[:30]}{'...' if len(text) > 30 else ''} is out of range "
                                   f"[{MIN_SAFE_INTEGER}, {MAX_SAFE_INTEGER}]")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonNumberOutOfRange(f"Number {text[:30]} is too large")
    return value


def loads(raw: str | bytes, canonical_numbers: bool = True) -> Any:
    """Parse JSON (strict: no NaN or Infinity). ValueError when it is not JSON (bytes that are not
    UTF-8 included), JsonTooDeep when it nests too deep, JsonNumberOutOfRange for a number
    outside the canonical range. `canonical_numbers=False` is for what other servers send: events
    of old room versions may hold bigger integers, and are checked by their room version's rules."""
    try:
        if canonical_numbers:
            value = json.loads(raw, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
        else:
            value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as e:
        raise ValueError(str(e)) from None
    # Fewer brackets than the limit cannot nest deeper than it: the common case skips the walk.
    brackets = raw.count("[" if isinstance(raw, str) else b"[") + raw.count("{" if isinstance(raw, str) else b"{")
    if brackets > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} levels")
    # Only a surrogate escape can make one: the common case skips the walk.
    escape = _SURROGATE_ESCAPE if isinstance(raw, str) else _SURROGATE_ESCAPE_BYTES
    if escape.search(raw) and has_lone_surrogate(value):
        raise LoneSurrogate("JSON string with an unpaired surrogate (\\uD800-\\uDFFF)")
    return value


def has_lone_surrogate(value: Any) -> bool:
    """True if a string or key in a parsed value is not encodable as UTF-8."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


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
