"""Has a user read an event, given their read receipts (pure)? Threaded receipts (spec "Threaded
read receipts"): an unthreaded receipt covers every event up to it; `main` covers the main timeline
(thread roots included); a thread's receipt covers that thread's events."""

from __future__ import annotations

from typing import Any


def thread_of(content: dict[str, Any]) -> str | None:
    """The thread root an event belongs to, or None for the main timeline."""
    relates = content.get("m.relates_to")
    if isinstance(relates, dict) and relates.get("rel_type") == "m.thread" and isinstance(relates.get("event_id"),
                                                                                          str):
        return relates["event_id"]
    return None


def is_read(position: int, thread_id: str | None, read: dict[str, int]) -> bool:
    """`read`: receipt thread ('' unthreaded, 'main', or a root) -> the stream position it is at."""
    if position <= read.get("", 0):
        return True
    return position <= read.get(thread_id if thread_id is not None else "main", 0)
