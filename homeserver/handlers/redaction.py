"""Redacting events (spec: client-server API, "Redactions")."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, not_found
from homeserver.events.auth import get_named_level, get_user_power_level
from homeserver.events.model import Event
from homeserver.events.room_versions import RedactionRules
from homeserver.handlers.events import EventCreationHandler
from homeserver.ratelimit import RateLimiter
from homeserver.storage.events import EventsStore


class RedactionHandler:
    def __init__(self, events: EventsStore, creator: EventCreationHandler,
                 message_limiter: RateLimiter | None = None, moderator_limiter: RateLimiter | None = None):
        self._events = events
        self._creator = creator
        # As in Synapse: redacting one's own event counts against rc_message; another user's (a
        # moderator cleaning up) against rc_admin_redaction, which is rc_message unless set.
        self._message_limiter = message_limiter
        self._moderator_limiter = moderator_limiter

    async def redact(self, user_id: str, room_id: str, event_id: str, reason: str | None,
                     txn_id: tuple[str, str, str], ratelimit: bool = True, suspended: bool = False) -> Event:
        """`suspended`: the sender's account is suspended (admin API): they may redact only their own events."""
        room_version = await self._events.get_room_version(room_id)
        target = await self._events.get_event(event_id)
        if room_version is None or target is None or target.room_id != room_id:
            raise not_found("Event not found")
        if target.sender != user_id:
            if suspended:
                raise MatrixError(403, Codes.USER_SUSPENDED, "Your account is suspended: you may redact only "
                                                             "your own events")
            # From room v3 the auth rules leave this to the server applying the redaction: only
            # the sender, or someone with the "redact" power level, may redact an event.
            state = await self._events.get_current_state_ids(room_id)
            keys = [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", user_id)]
            fetched = await self._events.get_events([state[k] for k in keys if k in state])
            auth_events = {k: fetched[state[k]] for k in keys if k in state and state[k] in fetched}
            if get_user_power_level(user_id, auth_events) < get_named_level(auth_events, "redact", 50):
                raise forbidden("You may not redact other users' events")
        limiter = self._message_limiter if target.sender == user_id else self._moderator_limiter
        if ratelimit and limiter is not None:
            limiter.check(user_id)
        content: dict[str, Any] = {"reason": reason} if reason is not None else {}
        extra = None
        if room_version.redaction.value >= RedactionRules.V11.value:
            content["redacts"] = event_id
        else:
            extra = {"redacts": event_id}
        return await self._creator.send(user_id, room_id, "m.room.redaction", content, txn_id=txn_id, extra=extra)
