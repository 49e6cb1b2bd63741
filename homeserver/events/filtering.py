"""Filters (client-server API "Filtering"): the filter model used by /sync, /messages and /context.

A filter arrives as JSON (uploaded with POST /user/{userId}/filter, or inline in a `filter` query
parameter). `validate_filter` checks it against a JSON Schema mirroring the spec's definitions
(sync_filter.yaml, event_filter.yaml, room_event_filter.yaml); `Filter.from_dict` builds the model
with the spec's defaults. Building precompiles the `*` wildcard patterns of `types`/`not_types`,
so matching an event is a few set lookups or linear-time glob matches (homeserver/util/glob.py).

Everything here is pure: no storage, no HTTP. Events may be `Event` objects or client-format
dicts (presence and account data events are only ever dicts)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import jsonschema

from homeserver.api.errors import Codes, MatrixError
from homeserver.util import json_input
from homeserver.util.absent_nulls import drop_absent_nulls
from homeserver.util.glob import MAX_GLOB_LENGTH, Glob
from homeserver.util.json_schema import validator_for

# -- the schema ---------------------------------------------------------------------------------

_STRINGS = {"type": "array", "items": {"type": "string"}}
# Event type patterns are globs matched against every event a sync reads: bounded in length and number.
MAX_TYPE_PATTERNS = 1000
_TYPE_PATTERNS = {"type": "array", "maxItems": MAX_TYPE_PATTERNS,
                  "items": {"type": "string", "maxLength": MAX_GLOB_LENGTH}}
_USER_IDS = {"type": "array", "items": {"type": "string", "pattern": "^@"}}
_ROOM_IDS = {"type": "array", "items": {"type": "string", "pattern": "^!"}}

EVENT_FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        # "must be an integer greater than 0"
        "limit": {"type": "integer", "minimum": 1},
        "types": _TYPE_PATTERNS,
        "not_types": _TYPE_PATTERNS,
        "senders": _USER_IDS,
        "not_senders": _USER_IDS,
    },
}

ROOM_EVENT_FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **EVENT_FILTER_SCHEMA["properties"],
        "unread_thread_notifications": {"type": "boolean"},
        "lazy_load_members": {"type": "boolean"},
        "include_redundant_members": {"type": "boolean"},
        "rooms": _ROOM_IDS,
        "not_rooms": _ROOM_IDS,
        "contains_url": {"type": "boolean"},
    },
}

ROOM_FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rooms": _ROOM_IDS,
        "not_rooms": _ROOM_IDS,
        "include_leave": {"type": "boolean"},
        "timeline": ROOM_EVENT_FILTER_SCHEMA,
        "state": ROOM_EVENT_FILTER_SCHEMA,
        "ephemeral": ROOM_EVENT_FILTER_SCHEMA,
        "account_data": ROOM_EVENT_FILTER_SCHEMA,
    },
}

FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event_fields": _STRINGS,
        "event_format": {"type": "string", "enum": ["client", "federation"]},
        "presence": EVENT_FILTER_SCHEMA,
        "account_data": EVENT_FILTER_SCHEMA,
        "room": ROOM_FILTER_SCHEMA,
    },
}

_FILTER_VALIDATOR = validator_for(FILTER_SCHEMA)
_ROOM_EVENT_FILTER_VALIDATOR = validator_for(ROOM_EVENT_FILTER_SCHEMA)


def _validate(validator: Any, value: Any, prefix: str) -> None:
    """400 naming the bad field: M_BAD_JSON for a wrong type, M_INVALID_PARAM for a bad value.
    Fields sent as null are dropped first (in place): they mean absent."""
    drop_absent_nulls(value, validator.schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return
    path = ".".join(str(p) for p in error.absolute_path)
    where = f"'{prefix}{'.' if prefix and path else ''}{path}'" if prefix or path else "filter"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        raise MatrixError(400, Codes.BAD_JSON, f"{where} must be of type {expected}")
    raise MatrixError(400, Codes.INVALID_PARAM, f"Invalid value for {where}: {error.message}")


def validate_filter(value: Any) -> None:
    """Check a whole filter (the /sync filter, or an uploaded one); MatrixError 400 if invalid."""
    _validate(_FILTER_VALIDATOR, value, "")


def validate_room_event_filter(value: Any) -> None:
    """Check a RoomEventFilter (the /messages and /context `filter` parameter)."""
    _validate(_ROOM_EVENT_FILTER_VALIDATOR, value, "filter")


def parse_filter_param(raw: str) -> dict[str, Any] | str:
    """A `filter` query parameter of /sync: inline JSON (it starts with `{`), returned parsed and
    validated; otherwise the ID of an uploaded filter, returned as is for the caller to look up."""
    if not raw.lstrip().startswith("{"):
        return raw
    value = parse_json_filter(raw)
    validate_filter(value)
    return value


def parse_json_filter(raw: str) -> dict[str, Any]:
    """Inline filter JSON: 400 M_NOT_JSON if it is not JSON, M_BAD_JSON if not an object."""
    try:
        value = json_input.loads(raw)
    except json_input.BadJson as e:
        raise MatrixError(400, Codes.BAD_JSON, f"filter: {e}") from None
    except ValueError:
        raise MatrixError(400, Codes.NOT_JSON, "filter is not valid JSON") from None
    if not isinstance(value, dict):
        raise MatrixError(400, Codes.BAD_JSON, "filter must be a JSON object")
    return value


def canonical_filter_json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- matching -----------------------------------------------------------------------------------


class _Patterns:
    """A list of event type patterns where `*` matches any sequence of characters (and `?` is
    literal): exact names in a set, wildcard ones as linear-time globs."""

    __slots__ = ("exact", "wild")

    def __init__(self, patterns: Iterable[str]):
        exact = set()
        wild = []
        for p in patterns:
            if "*" in p:
                wild.append(Glob(p, question_mark=False))
            else:
                exact.add(p)
        self.exact = frozenset(exact)
        self.wild = tuple(wild)

    def __contains__(self, value: str) -> bool:
        return value in self.exact or any(glob.matches(value) for glob in self.wild)


def _field(event: Any, name: str) -> Any:
    if isinstance(event, dict):
        return event.get(name)
    return getattr(event, name, None)


def _string_list(value: Any) -> list[str] | None:
    """A list of strings, or None when absent. Unvalidated input is read leniently: a non-list
    counts as absent and non-strings are dropped (validation, where it matters, refused them)."""
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, str)]


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


class EventFilter:
    """EventFilter: types/not_types (with `*` wildcards), senders/not_senders, limit. An absent
    list does not restrict; a `not_` list wins over its positive twin."""

    def __init__(self, value: dict[str, Any] | None = None):
        value = value if isinstance(value, dict) else {}
        self.raw = value
        self.limit: int | None = _positive_int(value.get("limit"))
        types = _string_list(value.get("types"))
        self.types = _Patterns(types) if types is not None else None
        self.not_types = _Patterns(_string_list(value.get("not_types")) or [])
        senders = _string_list(value.get("senders"))
        self.senders = frozenset(senders) if senders is not None else None
        self.not_senders = frozenset(_string_list(value.get("not_senders")) or [])
        self._matches_all = self.types is None and not self.not_types.exact and not self.not_types.wild \
            and self.senders is None and not self.not_senders

    def check(self, event_type: str | None, sender: str | None) -> bool:
        if self._matches_all:
            return True
        event_type = event_type or ""
        if event_type in self.not_types:
            return False
        if self.types is not None and event_type not in self.types:
            return False
        if sender in self.not_senders:
            return False
        if self.senders is not None and sender not in self.senders:
            return False
        return True

    def matches(self, event: Any) -> bool:
        return self.check(_field(event, "type"), _field(event, "sender"))

    def filter(self, events: Iterable[Any]) -> list[Any]:
        """The matching events (the limit is not applied: see `apply_limit`)."""
        if self._matches_all:
            return list(events)
        return [e for e in events if self.matches(e)]

    def limit_or(self, default: int) -> int:
        return self.limit if self.limit is not None else default

    def apply_limit(self, events: list[Any], default: int | None = None) -> list[Any]:
        """The first `limit` events (or `default` when the filter has none; None: no limit)."""
        limit = self.limit if self.limit is not None else default
        return events if limit is None else events[:limit]


class RoomEventFilter(EventFilter):
    """RoomEventFilter: an EventFilter plus rooms/not_rooms, contains_url and the lazy-loading
    switches (which select nothing themselves: the endpoints read them)."""

    def __init__(self, value: dict[str, Any] | None = None):
        super().__init__(value)
        value = self.raw
        rooms = _string_list(value.get("rooms"))
        self.rooms = frozenset(rooms) if rooms is not None else None
        self.not_rooms = frozenset(_string_list(value.get("not_rooms")) or [])
        contains_url = value.get("contains_url")
        self.contains_url: bool | None = contains_url if isinstance(contains_url, bool) else None
        self.lazy_load_members = value.get("lazy_load_members") is True
        self.include_redundant_members = self.lazy_load_members and value.get("include_redundant_members") is True
        self.unread_thread_notifications = value.get("unread_thread_notifications") is True
        self._matches_all = self._matches_all and self.rooms is None and not self.not_rooms \
            and self.contains_url is None

    def room_allowed(self, room_id: str) -> bool:
        if room_id in self.not_rooms:
            return False
        return self.rooms is None or room_id in self.rooms

    def matches(self, event: Any) -> bool:
        if self._matches_all:
            return True
        if not self.check(_field(event, "type"), _field(event, "sender")):
            return False
        if self.rooms is not None or self.not_rooms:
            room_id = _field(event, "room_id")
            # Events without a room (ephemeral and room account data events as sync sends them)
            # are filtered by room through room_allowed() by the caller.
            if room_id is not None and not self.room_allowed(room_id):
                return False
        if self.contains_url is not None:
            content = _field(event, "content")
            has_url = isinstance(content, dict) and "url" in content
            if has_url != self.contains_url:
                return False
        return True

    def filter_room(self, room_id: str, events: Iterable[Any]) -> list[Any]:
        """The matching events of one room (none if the room is filtered out)."""
        if not self.room_allowed(room_id):
            return []
        return self.filter(events)


class RoomFilter:
    """RoomFilter: rooms/not_rooms (applied before the sub-filters), include_leave, and the
    timeline/state/ephemeral/account_data RoomEventFilters."""

    def __init__(self, value: dict[str, Any] | None = None):
        value = value if isinstance(value, dict) else {}
        self.raw = value
        rooms = _string_list(value.get("rooms"))
        self.rooms = frozenset(rooms) if rooms is not None else None
        self.not_rooms = frozenset(_string_list(value.get("not_rooms")) or [])
        self.include_leave = value.get("include_leave") is True
        self.timeline = RoomEventFilter(value.get("timeline"))
        self.state = RoomEventFilter(value.get("state"))
        self.ephemeral = RoomEventFilter(value.get("ephemeral"))
        self.account_data = RoomEventFilter(value.get("account_data"))

    def room_allowed(self, room_id: str) -> bool:
        if room_id in self.not_rooms:
            return False
        return self.rooms is None or room_id in self.rooms

    def filter_room_ids(self, room_ids: Iterable[str]) -> list[str]:
        return [r for r in room_ids if self.room_allowed(r)]


class Filter:
    """A whole filter (sync_filter.yaml). Defaults per the spec: everything included,
    `event_format` "client", `include_leave` false, lazy loading off."""

    def __init__(self, value: dict[str, Any] | None = None):
        value = value if isinstance(value, dict) else {}
        self.raw = value
        self.presence = EventFilter(value.get("presence"))
        self.account_data = EventFilter(value.get("account_data"))
        self.room = RoomFilter(value.get("room"))
        self.event_format = value.get("event_format") if value.get("event_format") == "federation" else "client"
        self.event_fields: list[str] | None = _string_list(value.get("event_fields"))

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None, validate: bool = False) -> Filter:
        if validate:
            validate_filter(value if value is not None else {})
        return cls(value)

    def to_dict(self) -> dict[str, Any]:
        return self.raw


def room_event_filter(value: dict[str, Any] | RoomEventFilter | None) -> RoomEventFilter:
    """A RoomEventFilter from a dict (as endpoints used to pass) or one already built."""
    if isinstance(value, RoomEventFilter):
        return value
    return RoomEventFilter(value)
