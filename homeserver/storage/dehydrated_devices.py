"""MSC3814 dehydrated devices: at most one per user, each also a row in `devices` (so it has keys
and an inbox like any device)."""

from __future__ import annotations

import json
from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.devices import DevicesStore


class DehydratedDevicesStore:
    def __init__(self, db: Database, devices: DevicesStore):
        self._db = db
        self._devices = devices

    async def get(self, user_id: str) -> tuple[str, dict[str, Any]] | None:
        """(device_id, device_data) of the user's dehydrated device."""
        rows = await self._db.execute(
            "get_dehydrated_device", "SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = ?",
            user_id)
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    async def replace(self, user_id: str, device_id: str, device_data: dict[str, Any],
                      display_name: str | None) -> None:
        """Make `device_id` the user's dehydrated device, deleting the one it replaces (unless the same)."""
        def txn_fn(txn: Transaction) -> None:
            old = txn.execute("SELECT device_id FROM dehydrated_devices WHERE user_id = ?", (user_id,)).fetchone()
            if old is not None and old[0] != device_id:
                self._devices.delete_devices_txn(txn, user_id, [old[0]])
            txn.execute("DELETE FROM dehydrated_devices WHERE user_id = ?", (user_id,))
            self._devices.ensure_device_txn(txn, user_id, device_id, display_name)
            txn.execute("INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES (?, ?, ?)",
                        (user_id, device_id, json.dumps(device_data)))

        await self._db.run("replace_dehydrated_device", txn_fn)

    async def delete(self, user_id: str) -> str | None:
        """Delete the user's dehydrated device (and its device row). Returns its ID, if there was one."""
        def txn_fn(txn: Transaction) -> str | None:
            old = txn.execute("SELECT device_id FROM dehydrated_devices WHERE user_id = ?", (user_id,)).fetchone()
            if old is None:
                return None
            self._devices.delete_devices_txn(txn, user_id, [old[0]])
            return old[0]

        return await self._db.run("delete_dehydrated_device", txn_fn)

    def delete_devices_txn(self, txn: Transaction, user_id: str, device_ids: list[str]) -> None:
        """Deletion hook: a dehydrated device deleted through /devices stops being one."""
        for device_id in device_ids:
            txn.execute("DELETE FROM dehydrated_devices WHERE user_id = ? AND device_id = ?", (user_id, device_id))
