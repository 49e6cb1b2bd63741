"""The cached device lists of other servers' users (table remote_device_lists): one JSON document
per user, with the remote server's stream ID of the last update applied and a stale flag."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from homeserver.storage.database import Database, Transaction


@dataclass
class RemoteDeviceList:
    user_id: str
    stream_id: str
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # device_id -> {keys, device_display_name}
    master_key: dict[str, Any] | None = None
    self_signing_key: dict[str, Any] | None = None
    seen: list[str] = field(default_factory=list)  # recent stream IDs applied, the latest last
    stale: bool = False

    def document(self) -> str:
        return json.dumps({"devices": self.devices, "master_key": self.master_key,
                           "self_signing_key": self.self_signing_key, "seen": self.seen})


class RemoteDeviceListsStore:
    def __init__(self, db: Database):
        self._db = db

    async def get(self, user_ids: list[str]) -> dict[str, RemoteDeviceList]:
        def txn_fn(txn: Transaction) -> dict[str, RemoteDeviceList]:
            found = {}
            for user_id, stream_id, document, stale in txn.select_in(
                    "SELECT user_id, stream_id, device_list, stale FROM remote_device_lists WHERE user_id {in}",
                    user_ids):
                doc = json.loads(document)
                found[user_id] = RemoteDeviceList(user_id, stream_id, doc["devices"], doc["master_key"],
                                                  doc["self_signing_key"], doc["seen"], bool(stale))
            return found

        return await self._db.run("get_remote_device_lists", txn_fn) if user_ids else {}

    async def put(self, device_list: RemoteDeviceList, now_ms: int) -> None:
        await self._db.run("put_remote_device_list", lambda txn: txn.execute(
            "INSERT INTO remote_device_lists (user_id, stream_id, device_list, stale, updated_ts) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, "
            "device_list = excluded.device_list, stale = excluded.stale, updated_ts = excluded.updated_ts",
            (device_list.user_id, device_list.stream_id, device_list.document(), int(device_list.stale), now_ms)))

    async def mark_stale(self, user_id: str) -> None:
        await self._db.run("mark_remote_device_list_stale", lambda txn: txn.execute(
            "UPDATE remote_device_lists SET stale = 1 WHERE user_id = ?", (user_id,)))

    async def delete(self, user_ids: list[str]) -> None:
        def txn_fn(txn: Transaction) -> None:
            for user_id in user_ids:
                txn.execute("DELETE FROM remote_device_lists WHERE user_id = ?", (user_id,))

        if user_ids:
            await self._db.run("delete_remote_device_lists", txn_fn)
