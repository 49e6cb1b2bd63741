"""Which membership events each device has already been sent, for lazy-loading's "redundant
members" rule (client-server API "Lazy-loading room members"): unless the filter sets
`include_redundant_members`, /sync skips a timeline sender's member event that the device
already has.

Kept in memory, in a bounded LRU, not in the database: the spec lets a server send redundant
member events ("not intended to be a perfect optimisation"), so forgetting (eviction, restart)
only costs bandwidth, never correctness, while persisting would cost a write per sync.

Each entry remembers the events-stream position of the response that carried it: a client
has it only once it syncs from that response's token or a later one. A response that was lost
(the client retries with its older token) therefore does not make us skip anything."""

from __future__ import annotations

from homeserver.util.caches import LruCache

# (user, device, room) triples remembered; a few hundred bytes each.
MAX_TRACKED_ROOMS = 20_000


class SentMembersTracker:
    def __init__(self, max_rooms: int = MAX_TRACKED_ROOMS):
        # (user_id, device_id, room_id) -> member user ID -> (member event ID, position sent at)
        self._sent: LruCache[tuple[str, str, str], dict[str, tuple[str, int]]] = LruCache(
            "lazy_loaded_members", max_rooms)

    def already_sent(self, user_id: str, device_id: str, room_id: str, since: int | None) -> dict[str, str]:
        """member user ID -> member event ID the device has had, as of a sync from `since`
        (nothing when it starts afresh: a first or full-state sync)."""
        if since is None:
            return {}
        sent = self._sent.get((user_id, device_id, room_id))
        if not sent:
            return {}
        return {member: event_id for member, (event_id, position) in sent.items() if position <= since}

    def record(self, user_id: str, device_id: str, room_id: str, members: dict[str, str], position: int,
               fresh: bool) -> None:
        """The response whose token is at `position` carries these member events (member ->
        event ID). `fresh`: it starts the room over for the device (a first or full-state sync:
        the client drops what it had), so only these count from now on."""
        key = (user_id, device_id, room_id)
        sent = None if fresh else self._sent.get(key)
        if sent is None:
            if not members and not fresh:
                return
            sent = {}
            self._sent.set(key, sent)
        for member, event_id in members.items():
            previous = sent.get(member)
            # The same event sent earlier: the client has had it since that earlier response.
            if previous is None or previous[0] != event_id:
                sent[member] = (event_id, position)
