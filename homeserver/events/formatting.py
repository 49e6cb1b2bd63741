"""The filter's `event_format` and `event_fields` (client-server API "Filtering"): events in the
federation format, and events cut down to the fields a client asked for.

Field paths are "dot-separated property paths" (spec appendix): `content.body` is the `body` of
`content`; a literal dot or backslash in a property name is escaped with a backslash
(`content.m\\.relates_to`); any other backslash sequence is kept as it is."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from homeserver.events.model import Event
from homeserver.util.dotted_paths import split_dotted_path


def split_field_path(path: str) -> list[str]:
    """`content.m\\.relates_to` -> ["content", "m.relates_to"]."""
    return list(split_dotted_path(path))


def compile_field_paths(paths: Iterable[str]) -> list[list[str]]:
    return [split_field_path(p) for p in paths]


def only_fields(event: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    """A new dict with only the fields at `paths` (each a list of keys) that exist in `event`.
    A path through a non-object, or to a missing field, contributes nothing."""
    out: dict[str, Any] = {}
    for keys in paths:
        source: Any = event
        for key in keys:
            if not isinstance(source, dict) or key not in source:
                break
            source = source[key]
        else:
            target = out
            for key in keys[:-1]:
                target = target.setdefault(key, {})
                if not isinstance(target, dict):  # a shorter path already took the whole value
                    break
            else:
                target[keys[-1]] = copy.deepcopy(source)
    return out


def federation_event(event: Event, unsigned: dict[str, Any]) -> dict[str, Any]:
    """The event as it travels between servers (the PDU as signed), with `unsigned` beside it.
    Room versions 1 and 2 carry `event_id` in the PDU; later ones do not, and neither does this."""
    out = dict(event.pdu)
    out["unsigned"] = unsigned
    return out


class EventFormatter:
    """Applies one filter's `event_format` and `event_fields` to serialized client events."""

    def __init__(self, event_format: str, event_fields: list[str] | None):
        self.federation = event_format == "federation"
        self.paths = compile_field_paths(event_fields) if event_fields is not None else None

    @property
    def is_identity(self) -> bool:
        return not self.federation and self.paths is None

    def format(self, events: list[Event], serialized: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`serialized[i]` is the client event of `events[i]` (with its `unsigned` computed for
        this user); returns the events in the wanted format and fields."""
        if self.is_identity:
            return serialized
        out = []
        for event, client in zip(events, serialized, strict=True):
            formatted = federation_event(event, client.get("unsigned", {})) if self.federation else client
            if self.paths is not None:
                formatted = only_fields(formatted, self.paths)
            out.append(formatted)
        return out
