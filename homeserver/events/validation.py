"""Format checks on a PDU for its room version, the first of the checks performed on receipt
of a PDU (spec: data/api/server-server/definitions/pdu_v*.yaml; client-server "Size limits";
appendices "Canonical JSON"; v6-canonical-json; v12 event format). An event failing these is
dropped, not rejected: it never reaches auth checks."""

from __future__ import annotations

import re
from typing import Any

from homeserver.events.hashing import encode_canonical_json
from homeserver.events.room_versions import EventFormat, RoomVersion

MAX_PDU_BYTES = 65536
MAX_ID_BYTES = 255  # sender, room_id, event_id (identifier limits), state_key and type
MAX_AUTH_EVENTS = 10
MAX_PREV_EVENTS = 20
CANONICAL_INT_MIN = -(2**53) + 1
CANONICAL_INT_MAX = 2**53 - 1
# Pre-v6 PDU schemas bound depth by the 64-bit integer range instead.
LEGACY_DEPTH_MAX = 2**63 - 1

# A v12 room ID: "!" + URL-safe unpadded base64 of a sha256 (43 characters), no domain.
_V12_ROOM_ID = re.compile(r"![A-Za-z0-9_-]{43}")


class EventValidationError(ValueError):
    pass


class EventTooLargeError(EventValidationError):
    """A size limit (whole event or an identifier field) is exceeded: 413 M_TOO_LARGE to clients."""


def check_size_bound(value: Any, limit: int = MAX_PDU_BYTES) -> None:
    """EventTooLargeError when `value` cannot encode to `limit` bytes or fewer, found without
    encoding it: a walk summing a lower bound of each part's encoded size (a string its UTF-8
    bytes plus quotes, escapes not counted; a number at least 1), stopping as soon as the sum
    passes the limit. Each part adds at least a byte, so the walk visits at most `limit` parts:
    an event of megabytes is refused in time bounded by the limit, before anything hashes,
    signs or canonicalises it. (Passing says nothing: the exact size is checked afterwards.)"""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
            if total <= limit and not item.isascii():  # its UTF-8 bytes (at most `limit` characters encoded)
                total += len(item.encode("utf-8", "surrogatepass")) - len(item)
        elif isinstance(item, dict):
            total += 1 + len(item)  # braces, and a colon per key
            for k, v in item.items():
                total += (len(k) + 3 if isinstance(k, str) else 1)  # quotes and a comma
                stack.append(v)
        elif isinstance(item, (list, tuple)):
            total += 1 + len(item)  # brackets and commas
            stack.extend(item)
        else:
            total += 1
        if total > limit:
            raise EventTooLargeError(f"event is over {limit} bytes")


def validate_pdu(pdu: Any, room_version: RoomVersion) -> None:
    if not isinstance(pdu, dict):
        raise EventValidationError("PDU must be a JSON object")
    check_size_bound(pdu)
    _check_required_keys(pdu, room_version)
    _check_field_types(pdu, room_version)
    _check_room_id(pdu, room_version)
    if room_version.strict_canonical_json:
        _check_canonical_values(pdu, "event")
    _check_sizes(pdu)


def _check_required_keys(pdu: dict[str, Any], room_version: RoomVersion) -> None:
    required = ["sender", "origin_server_ts", "type", "content", "depth", "hashes", "signatures",
                "auth_events", "prev_events"]
    if room_version.event_format is EventFormat.V1:
        required.append("event_id")
    # room_id is required everywhere except on a v12 create event (checked in _check_room_id).
    missing = [k for k in required if k not in pdu]
    if missing:
        raise EventValidationError(f"PDU is missing required keys: {', '.join(sorted(missing))}")


def _check_field_types(pdu: dict[str, Any], room_version: RoomVersion) -> None:
    for key in ("sender", "type"):
        _require_str(pdu, key)
    if "state_key" in pdu:
        _require_str(pdu, "state_key")
    if not pdu["sender"].startswith("@") or ":" not in pdu["sender"]:
        raise EventValidationError("sender is not a user ID")
    for key in ("origin_server_ts", "depth"):
        if not _is_int(pdu[key]):
            raise EventValidationError(f"{key} must be an integer")
    depth_max = CANONICAL_INT_MAX if room_version.strict_canonical_json else LEGACY_DEPTH_MAX
    if not 0 <= pdu["depth"] <= depth_max:
        raise EventValidationError(f"depth out of range: {pdu['depth']}")
    for key in ("content", "hashes", "signatures"):
        if not isinstance(pdu[key], dict):
            raise EventValidationError(f"{key} must be an object")
    if "unsigned" in pdu and not isinstance(pdu["unsigned"], dict):
        raise EventValidationError("unsigned must be an object")
    if not isinstance(pdu["hashes"].get("sha256"), str):
        raise EventValidationError("hashes.sha256 must be a string")
    for server, sigs in pdu["signatures"].items():
        if not isinstance(sigs, dict) or not all(isinstance(s, str) for s in sigs.values()):
            raise EventValidationError(f"signatures of {server} must map key IDs to strings")
    if "redacts" in pdu and not isinstance(pdu["redacts"], str):
        raise EventValidationError("redacts must be a string")

    v1_format = room_version.event_format is EventFormat.V1
    if v1_format:
        _require_str(pdu, "event_id")
    for key, limit in (("auth_events", MAX_AUTH_EVENTS), ("prev_events", MAX_PREV_EVENTS)):
        refs = pdu[key]
        if not isinstance(refs, list):
            raise EventValidationError(f"{key} must be an array")
        if len(refs) > limit:
            raise EventValidationError(f"{key} has {len(refs)} entries; at most {limit} allowed")
        for ref in refs:
            if not (_is_v1_reference(ref) if v1_format else isinstance(ref, str)):
                shape = "[event_id, {hashes}] pairs" if v1_format else "event ID strings"
                raise EventValidationError(f"{key} must contain {shape}")


def _is_v1_reference(ref: Any) -> bool:
    return (isinstance(ref, list) and len(ref) == 2 and isinstance(ref[0], str)
            and isinstance(ref[1], dict))


def _check_room_id(pdu: dict[str, Any], room_version: RoomVersion) -> None:
    if room_version.room_id_from_create_event:
        if pdu["type"] == "m.room.create":
            if "room_id" in pdu:
                raise EventValidationError("m.room.create must not have a room_id in this room version")
            return
        if "room_id" not in pdu:
            raise EventValidationError("PDU is missing required keys: room_id")
        _require_str(pdu, "room_id")
        if not _V12_ROOM_ID.fullmatch(pdu["room_id"]):
            raise EventValidationError("room_id is not a create event hash")
        return
    if "room_id" not in pdu:
        raise EventValidationError("PDU is missing required keys: room_id")
    _require_str(pdu, "room_id")
    if not pdu["room_id"].startswith("!"):
        raise EventValidationError("room_id is not a room ID")


def _check_canonical_values(value: Any, path: str) -> None:
    """Rooms 6+: every number must be an integer in the canonical JSON range (no floats)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not CANONICAL_INT_MIN <= value <= CANONICAL_INT_MAX:
            raise EventValidationError(f"integer out of canonical JSON range at {path}")
    elif isinstance(value, float):
        raise EventValidationError(f"float not allowed in canonical JSON at {path}")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_canonical_values(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_canonical_values(v, f"{path}[{i}]")
    else:
        raise EventValidationError(f"not a JSON value at {path}")


def _check_sizes(pdu: dict[str, Any]) -> None:
    for key in ("sender", "room_id", "state_key", "type", "event_id"):
        value = pdu.get(key)
        if isinstance(value, str) and len(value.encode("utf-8")) > MAX_ID_BYTES:
            raise EventTooLargeError(f"{key} is longer than {MAX_ID_BYTES} bytes")
    # The limit applies to the event as sent over federation (signatures included).
    try:
        size = len(encode_canonical_json(pdu))
    except (ValueError, TypeError) as e:  # NaN/Infinity, or a value JSON cannot hold
        raise EventValidationError(f"event is not encodable as canonical JSON: {e}") from e
    if size > MAX_PDU_BYTES:
        raise EventTooLargeError(f"event is {size} bytes; at most {MAX_PDU_BYTES} allowed")


def _require_str(pdu: dict[str, Any], key: str) -> None:
    if not isinstance(pdu.get(key), str):
        raise EventValidationError(f"{key} must be a string")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
