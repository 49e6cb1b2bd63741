"""The user directory (spec: client-server API, "User directory"): find users by ID or name.

The index is maintained by the stores' hooks (registration, profile changes, deactivation, room
join rules and history visibility); this handler applies the configuration and the limits."""

from __future__ import annotations

from typing import Any

from homeserver.storage.user_directory import UserDirectoryStore

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class UserDirectoryHandler:
    def __init__(self, store: UserDirectoryStore, enabled: bool, search_all_users: bool):
        self._store = store
        self._enabled = enabled
        self._search_all_users = search_all_users

    async def start(self) -> None:
        await self._store.rebuild_if_pending()

    async def search(self, searcher: str, term: str, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """{results: [{user_id, display_name?, avatar_url?}], limited}: `limited` when more users
        matched than `limit` (capped at MAX_LIMIT)."""
        if not self._enabled:
            return {"results": [], "limited": False}
        limit = max(0, min(limit, MAX_LIMIT))
        found = await self._store.search(searcher, term, limit + 1, self._search_all_users)
        results = []
        for entry in found[:limit]:
            result: dict[str, Any] = {"user_id": entry.user_id}
            if entry.display_name is not None:
                result["display_name"] = entry.display_name
            if entry.avatar_url is not None:
                result["avatar_url"] = entry.avatar_url
            results.append(result)
        return {"results": results, "limited": len(found) > limit}
