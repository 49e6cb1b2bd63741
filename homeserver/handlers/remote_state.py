"""A room's state as another server gives it (the answer to send_join, or /state at an event we
lack): every event checked (format, signatures, content hash) and authorised against its own auth
events before any is trusted (spec: server-server "Checks performed on receipt of a PDU", steps
1-4). Events whose auth events fail are rejected, and so are the events that rest on them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from homeserver.events.auth import AuthError, check_auth, check_auth_event_list
from homeserver.events.model import Event
from homeserver.events.room_versions import RoomVersion
from homeserver.handlers.event_checker import EventChecker, EventCheckError
from homeserver.storage.events import EventsStore

logger = logging.getLogger(__name__)

CREATE_KEY = ("m.room.create", "")
# The state an invited or knocking user is shown of a room (spec: "Stripped state").
STRIPPED_STATE_TYPES = ("m.room.create", "m.room.join_rules", "m.room.canonical_alias", "m.room.avatar",
                        "m.room.name", "m.room.encryption", "m.room.topic")


async def stripped_state_of(store: EventsStore, state: dict[tuple[str, str], str],
                            member: str | None = None, full: bool = False) -> list[dict[str, Any]]:
    """The stripped state events of a room's state (and `member`'s member event, if any);
    `full`: the events whole, in the room's format (what an invite to another server carries:
    servers check them, e.g. the create event's signatures)."""
    wanted = [state[(t, "")] for t in STRIPPED_STATE_TYPES if (t, "") in state]
    if member is not None and ("m.room.member", member) in state:
        wanted.append(state[("m.room.member", member)])
    held = await store.get_events(wanted)
    if full:
        return [held[i].pdu for i in wanted if i in held]
    return [{"type": e.type, "state_key": e.state_key, "content": e.content, "sender": e.sender}
            for e in (held[i] for i in wanted if i in held)]


@dataclass
class CheckedState:
    state: dict[tuple[str, str], Event]   # the state events that passed, by key
    events: dict[str, Event]              # every well-formed, well-signed event of the answer
    rejected: dict[str, str]              # event ID -> why it failed auth against its auth events


async def check_state_answer(checker: EventChecker, store: EventsStore, server: str, room_id: str,
                             room_version: RoomVersion, state_pdus: list[Any], chain_pdus: list[Any],
                             what: str) -> CheckedState:
    checked: dict[str, Event] = {}
    in_state: set[str] = set()
    for part, pdus in (("auth_chain", chain_pdus), ("state", state_pdus)):
        for pdu in pdus:
            if not isinstance(pdu, dict):
                continue
            try:
                event = await checker.check_received(pdu, room_version)
            except EventCheckError as e:
                logger.info("Dropped an event of %s's %s: %s", server, what, e)
                continue
            if event.room_id != room_id:  # (v12 create events name no room: theirs is derived)
                continue
            checked[event.event_id] = event
            if part == "state":
                in_state.add(event.event_id)
    # Auth events the answer leaves out but we hold (accepted, not rejected) count as passed.
    referenced = {a for e in checked.values() for a in e.auth_event_ids if a not in checked}
    if room_version.room_id_from_create_event:
        referenced.add("$" + room_id[1:])
    passed: dict[str, Event] = dict(await store.get_events(sorted(referenced - set(checked)))) if referenced else {}
    rejected: dict[str, str] = {}
    # Auth in depth order: an event's auth events come before it (and are judged first).
    for event in sorted(checked.values(), key=lambda e: (e.depth, e.event_id)):
        reason = auth_against_own(event, passed)
        if reason is None:
            passed[event.event_id] = event
        else:
            rejected[event.event_id] = reason
            logger.info("Rejected %s of %s's %s: %s", event.event_id, server, what, reason)
    state = {e.state_tuple: e for e in passed.values() if e.event_id in in_state and e.is_state()}
    create = state.get(CREATE_KEY)
    if create is not None and (create.content.get("room_version", "1") != room_version.identifier
                               or (room_version.room_id_from_create_event and "!" + create.event_id[1:] != room_id)):
        state.pop(CREATE_KEY)
    return CheckedState(state, checked, rejected)


def auth_against_own(event: Event, known: dict[str, Event]) -> str | None:
    """None if the event passes the auth rules against its own auth events (each of which must
    be in `known`: accepted), else why not."""
    if event.type == "m.room.create":
        try:
            check_auth(event, {})
        except AuthError as e:
            return str(e)
        return None
    try:
        if any(a not in known for a in event.auth_event_ids):
            return "auth events missing or rejected"
        own = check_auth_event_list(event, [known[a] for a in event.auth_event_ids])
        if event.room_version.room_id_from_create_event:
            create = known.get("$" + event.room_id[1:])
            if create is None:
                return "the room's create event is missing"
            own = {**own, CREATE_KEY: create}
        check_auth(event, own)
    except AuthError as e:
        return str(e)
    return None
