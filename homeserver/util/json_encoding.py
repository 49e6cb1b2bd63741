"""Encoding response bodies as JSON without holding the reactor (or the GIL) for long.

`json.dumps` runs in C and never lets go of the GIL: a 20 MB /sync body holds every thread of
the process, the reactor's included, for the whole encode (about 100 ms), and running that on
another thread changes nothing. So a body found large is encoded on the CPU pool *in pieces*:
its containers are walked in Python down to SPLIT_DEPTH levels and everything below is encoded
by C, one piece per value. Between two pieces the encoding thread may be made to give the GIL
back (every `sys.getswitchinterval()`, 5 ms), so the reactor waits at most about that, plus the
largest piece (one event: at most 64 KiB, well under a millisecond).

Whether a body is large is found by a walk that stops after SMALL_NODES values or SMALL_BYTES
of strings: a small body (nearly every response) is encoded in one call on the spot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from homeserver.util.cpu_pool import CpuPool

# Deep enough that the events of a /sync (body.rooms.join[room].timeline.events[i], depth 6)
# are single pieces; anything below is encoded whole.
SPLIT_DEPTH = 6
SMALL_NODES = 5000
SMALL_BYTES = 256 * 1024
CHUNK_BYTES = 64 * 1024

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_encode = _encoder.encode


def encode_json(body: Any) -> bytes:
    """The whole body at once (C speed, GIL held throughout): for small bodies."""
    return _encode(body).encode("utf-8")


def is_small(body: Any, max_nodes: int = SMALL_NODES, max_bytes: int = SMALL_BYTES) -> bool:
    """True if `body` has at most `max_nodes` values and `max_bytes` of strings and keys; the walk
    stops as soon as either is passed, so it costs at most `max_nodes` steps."""
    nodes = 0
    size = 0
    stack = [body]
    while stack:
        item = stack.pop()
        nodes += 1
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                size += len(key) if isinstance(key, str) else 8
                stack.append(value)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        if nodes > max_nodes or size > max_bytes:
            return False
    return True


def _pieces(value: Any, depth: int) -> Iterator[str]:
    if depth < SPLIT_DEPTH and isinstance(value, dict) and value:
        yield "{"
        first = True
        for key, item in value.items():
            # (json.dumps spells int, float, bool and None keys as strings its own way)
            name = _encode(key) if isinstance(key, str) else _encode({key: 0})[1:-3]
            yield (name + ":") if first else ("," + name + ":")
            first = False
            yield from _pieces(item, depth + 1)
        yield "}"
    elif depth < SPLIT_DEPTH and isinstance(value, (list, tuple)) and value:
        yield "["
        first = True
        for item in value:
            if not first:
                yield ","
            first = False
            yield from _pieces(item, depth + 1)
        yield "]"
    else:
        yield _encode(value)


def encode_in_pieces(body: Any) -> list[bytes]:
    """The body's JSON (the same bytes encode_json gives) as chunks of about CHUNK_BYTES, built
    from small C-encoded pieces with Python in between (where the GIL can change hands)."""
    chunks: list[bytes] = []
    buffer: list[str] = []
    buffered = 0
    for piece in _pieces(body, 0):
        buffer.append(piece)
        buffered += len(piece)
        if buffered >= CHUNK_BYTES:
            chunks.append("".join(buffer).encode("utf-8"))
            buffer, buffered = [], 0
    if buffer:
        chunks.append("".join(buffer).encode("utf-8"))
    return chunks


async def encode_response(body: Any, pool: CpuPool) -> list[bytes]:
    """Chunks of the body's JSON: encoded at once when small, else in pieces on the CPU pool."""
    if is_small(body):
        return [encode_json(body)]
    return await pool.run(encode_in_pieces, body)
