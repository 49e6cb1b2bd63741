"""EventChecker: the checks every event passes before it is persisted, ours or another server's
(spec: server-server "Checks performed on receipt of a PDU"; rooms/v*.md auth rules).

    1. format and size for its room version               -> dropped (EventCheckError)
    2. signatures: the sender's server (and, rooms 1-2,     -> dropped
       the event ID's server) with keys from the keyring
    3. content hash: a mismatch keeps the event redacted    -> continues, redacted
    4. auth against the event's own auth_events             -> rejected
    5. auth against the state before it                     -> rejected
    6. auth against the room's current state                -> soft-failed

A local event is built from the state before it (its auth_events are chosen from that state, and
that state is the current state), so it needs only 1 and 5: `check_local` raises the Matrix error
a client should see. A received event goes through all six: `check_received` (1-3) before its
context is known, then `check_auth` (4-6). Handlers hold no HTTP: the keyring is given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from signedjson.key import VerifyKey

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.events.auth import (
    AuthError,
    AuthEvents,
    auth_types_for_event,
    check_auth,
    check_auth_event_list,
)
from homeserver.events.hashing import check_content_hash, event_from_pdu
from homeserver.events.model import Event
from homeserver.events.redaction import redact
from homeserver.events.room_versions import RoomVersion
from homeserver.events.signing import EventSignatureError, check_signed_by, servers_required_to_sign
from homeserver.events.validation import EventTooLargeError, EventValidationError, validate_pdu
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateMap

CREATE_KEY = ("m.room.create", "")


class EventCheckError(Exception):
    """The event fails a check that comes before its ID can be trusted: drop it."""


class KeyRing(Protocol):
    async def verify_keys(self, server_name: str, key_ids: Iterable[str], at_ms: int | None
                          ) -> Mapping[str, VerifyKey]:
        """The keys of `server_name` among `key_ids` valid at `at_ms` (None: at any time)."""


@dataclass
class AuthOutcome:
    """`rejected`: why the event fails auth (steps 4-5); `soft_failed`: it passes those but not
    against the current state (step 6), so it is kept out of current state and clients' view."""

    rejected: str | None = None
    soft_failed: bool = False


class EventChecker:
    def __init__(self, events: EventsStore, keyring: KeyRing):
        self._events = events
        self._keyring = keyring

    # -- our own events -----------------------------------------------------------------------

    async def check_local(self, pdu: dict[str, Any], room_version: RoomVersion, state_before: StateMap) -> Event:
        """A signed event we built: its format (400, 413 for size) and its auth against the state
        before it (403). Returns the event."""
        try:
            validate_pdu(pdu, room_version)
        except EventTooLargeError as e:
            raise MatrixError(413, Codes.TOO_LARGE, str(e)) from None
        except EventValidationError as e:
            raise MatrixError(400, Codes.BAD_JSON, str(e)) from None
        event = event_from_pdu(pdu, room_version)
        reason = await self.auth_against_state(event, state_before)
        if reason is not None:
            raise forbidden(reason)
        return event

    # -- events from other servers ------------------------------------------------------------

    async def check_received(self, pdu: Any, room_version: RoomVersion) -> Event:
        """Steps 1-3 for a PDU another server sent: EventCheckError if it is to be dropped; the
        event (redacted when its content does not match its hash) otherwise."""
        try:
            validate_pdu(pdu, room_version)
        except EventValidationError as e:
            raise EventCheckError(f"bad format: {e}") from None
        try:
            servers = servers_required_to_sign(pdu, room_version)
        except EventSignatureError as e:
            raise EventCheckError(str(e)) from None
        for server in sorted(servers):
            await self.check_signed(pdu, server, room_version)
        if not check_content_hash(pdu):
            redacted = redact(pdu, room_version)
            event = event_from_pdu(redacted, room_version)
            event.internal["content_hash_mismatch"] = True
            return event
        return event_from_pdu(pdu, room_version)

    async def check_signed(self, pdu: dict[str, Any], server: str, room_version: RoomVersion) -> None:
        """EventCheckError unless `server` signed the (well-formed) PDU with a key valid for it."""
        sigs = pdu.get("signatures")
        key_ids = list(sigs.get(server) or {}) if isinstance(sigs, dict) and isinstance(sigs.get(server), dict) \
            else []
        at_ms = pdu["origin_server_ts"] if room_version.enforce_key_validity else None
        keys = await self._keyring.verify_keys(server, key_ids, at_ms)
        try:
            check_signed_by(pdu, server, keys, room_version)
        except EventSignatureError as e:
            raise EventCheckError(str(e)) from None

    async def check_auth(self, event: Event, state_before: StateMap, current_state: StateMap | None) -> AuthOutcome:
        """Steps 4-6 for a received event whose state before it is known (`current_state`: the
        room's, or None to skip step 6, e.g. for events of the past such as backfill)."""
        auth_ids = event.auth_event_ids
        fetched = await self._events.get_events(auth_ids)
        missing = [eid for eid in auth_ids if eid not in fetched]
        if missing:
            return AuthOutcome(rejected=f"auth events not known: {', '.join(missing)}")
        try:
            own = check_auth_event_list(event, [fetched[eid] for eid in auth_ids])
            if event.room_version.room_id_from_create_event and event.type != "m.room.create":
                # v12: the create event is not listed among auth_events but the rules consult it;
                # its ID is the room's.
                create_id = "$" + event.room_id[1:]
                create = (await self._events.get_events([create_id])).get(create_id)
                if create is not None:
                    own = {**own, CREATE_KEY: create}
            check_auth(event, own)
        except AuthError as e:
            return AuthOutcome(rejected=f"against its auth events: {e}")
        reason = await self.auth_against_state(event, state_before)
        if reason is not None:
            return AuthOutcome(rejected=f"against the state before it: {reason}")
        if current_state is not None and current_state is not state_before:
            reason = await self.auth_against_state(event, current_state)
            if reason is not None:
                return AuthOutcome(soft_failed=True)
        return AuthOutcome()

    # -- shared -------------------------------------------------------------------------------

    async def auth_against_state(self, event: Event, state: StateMap) -> str | None:
        """None if the auth rules allow the event against `state`, else why not."""
        wanted = auth_types_for_event(event.type, event.sender, event.state_key, event.content, event.room_version)
        # The create event too: v12 does not list it among auth_events, but its rules consult it.
        ids = {k: state[k] for k in set(wanted) | {CREATE_KEY} if k in state}
        fetched = await self._events.get_events(list(ids.values()))
        auth_events: AuthEvents = {k: fetched[eid] for k, eid in ids.items() if eid in fetched}
        try:
            check_auth(event, auth_events)
        except AuthError as e:
            return str(e)
        return None
