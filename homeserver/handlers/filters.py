"""Uploading and reading filters (client-server API "Filtering"), and resolving the `filter`
parameter of /sync into a filter."""

from __future__ import annotations

import json
from typing import Any

from homeserver.api.errors import forbidden, invalid_param, not_found
from homeserver.api.numbers import parse_position
from homeserver.events.filtering import Filter, canonical_filter_json, parse_filter_param, validate_filter
from homeserver.storage.filters import FiltersStore

# Stored filter IDs are the decimal digits of a per-user counter; anything else is unknown.


class FilterHandler:
    def __init__(self, store: FiltersStore):
        self._store = store

    async def create_filter(self, requester_id: str, user_id: str, body: dict[str, Any]) -> str:
        """Store the filter for the user; returns its ID (the same ID for the same filter)."""
        if requester_id != user_id:
            raise forbidden("Cannot create filters for other users")
        validate_filter(body)
        return str(await self._store.add_filter(user_id, canonical_filter_json(body)))

    async def get_filter(self, requester_id: str, user_id: str, filter_id: str) -> dict[str, Any]:
        if requester_id != user_id:
            raise forbidden("Cannot get filters for other users")
        return await self.get_filter_json(user_id, filter_id)

    async def get_filter_json(self, user_id: str, filter_id: str) -> dict[str, Any]:
        """The user's stored filter as JSON; 404 M_NOT_FOUND if they have no such filter."""
        stored = await self._stored_filter(user_id, filter_id)
        if stored is None:
            raise not_found("Unknown filter")
        return stored

    async def _stored_filter(self, user_id: str, filter_id: str) -> dict[str, Any] | None:
        position = parse_position(filter_id)
        if position is None:
            return None
        raw = await self._store.get_filter(user_id, position)
        return None if raw is None else json.loads(raw)

    async def resolve_json(self, filter_param: str | None, user_id: str) -> dict[str, Any]:
        """The /sync `filter` parameter as filter JSON: inline JSON (starting with `{`, validated)
        or the ID of one of the user's stored filters. No parameter: the empty filter. An ID the
        user has no filter under is a bad parameter (400 M_INVALID_PARAM, as Synapse answers): the
        404 of `GET /filter/{id}` would read as an unknown endpoint."""
        if not filter_param:
            return {}
        parsed = parse_filter_param(filter_param)
        if isinstance(parsed, dict):
            return parsed
        stored = await self._stored_filter(user_id, parsed)
        if stored is None:
            raise invalid_param(f"No such filter: {parsed!r}")
        return stored

    async def resolve(self, filter_param: str | None, user_id: str) -> Filter:
        """Like resolve_json, as a Filter model."""
        return Filter(await self.resolve_json(filter_param, user_id))
