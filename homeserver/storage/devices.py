"""Devices: one per login session, each with its tokens; last-seen info is batched in memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.tokens import TokensStore


@dataclass(frozen=True)
class DeviceRecord:
    user_id: str
    device_id: str
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None


class DevicesStore:
    def __init__(self, db: Database, tokens: TokensStore):
        self._db = db
        self._tokens = tokens
        # (user_id, device_id) -> (ts, ip, user agent); written out by flush_last_seen().
        self._pending_last_seen: dict[tuple[str, str], tuple[int, str, str]] = {}
        # Batches being written by flush_last_seen(): still read from until they have committed.
        self._flushing: list[dict[tuple[str, str], tuple[int, str, str]]] = []
        # Called with (user_id, deleted) on the reactor thread once a transaction that created,
        # renamed or deleted a device has committed (the device-list stream listens); an awaitable
        # it returns is awaited before the transaction's caller goes on.
        self.change_listeners: list[Callable[[str, bool], Any]] = []
        # Other stores' per-device rows (inboxes, keys, ...), deleted in the same transaction.
        self._deletion_hooks: list[Callable[[Transaction, str, list[str]], None]] = []

    def _after_commit_notify(self, txn: Transaction, user_id: str, deleted: bool) -> None:
        for listener in self.change_listeners:
            txn.call_after_commit(lambda listener=listener: listener(user_id, deleted))

    def add_deletion_hook(self, hook: Callable[[Transaction, str, list[str]], None]) -> None:
        """`hook(txn, user_id, device_ids)` runs inside every transaction that deletes devices."""
        self._deletion_hooks.append(hook)

    async def ensure_device(self, user_id: str, device_id: str, display_name: str | None) -> None:
        await self._db.run("ensure_device", self.ensure_device_txn, user_id, device_id, display_name)

    def ensure_device_txn(self, txn: Transaction, user_id: str, device_id: str, display_name: str | None) -> bool:
        """Create the device if missing (keeping an existing one's name). True if it was created."""
        if txn.execute(
            "SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?", (user_id, device_id)
        ).fetchone():
            return False
        txn.execute(
            "INSERT INTO devices (user_id, device_id, display_name) VALUES (?, ?, ?)",
            (user_id, device_id, display_name),
        )
        self._after_commit_notify(txn, user_id, False)
        return True

    async def get_devices(self, user_id: str) -> list[DeviceRecord]:
        rows = await self._db.execute(
            "get_devices",
            "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip FROM devices "
            "WHERE user_id = ? ORDER BY device_id",
            user_id,
        )
        return [self._with_pending(DeviceRecord(*r)) for r in rows]

    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        rows = await self._db.execute(
            "get_device",
            "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip FROM devices "
            "WHERE user_id = ? AND device_id = ?",
            user_id, device_id,
        )
        return self._with_pending(DeviceRecord(*rows[0])) if rows else None

    def _unwritten_last_seen(self, user_id: str, device_id: str) -> tuple[int, str, str] | None:
        """The device's latest (ts, ip, user agent) not yet in the database, if any."""
        for batch in (self._pending_last_seen, *reversed(self._flushing)):
            found = batch.get((user_id, device_id))
            if found is not None:
                return found
        return None

    def _with_pending(self, d: DeviceRecord) -> DeviceRecord:
        pending = self._unwritten_last_seen(d.user_id, d.device_id)
        if pending is None:
            return d
        return DeviceRecord(d.user_id, d.device_id, d.display_name, pending[0], pending[1])

    async def set_display_name(self, user_id: str, device_id: str, display_name: str | None) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            txn.execute(
                "UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?",
                (display_name, user_id, device_id),
            )
            if txn.rowcount > 0:
                self._after_commit_notify(txn, user_id, False)
            return txn.rowcount > 0

        return await self._db.run("set_device_display_name", txn_fn)

    def get_device_ids_txn(self, txn: Transaction, user_id: str) -> list[str]:
        return [r[0] for r in txn.execute("SELECT device_id FROM devices WHERE user_id = ?", (user_id,)).fetchall()]

    def delete_devices_txn(self, txn: Transaction, user_id: str, device_ids: list[str]) -> None:
        """Delete devices with their access and refresh tokens."""
        self._tokens.delete_access_tokens_for_devices_txn(txn, user_id, device_ids)
        for hook in self._deletion_hooks:
            hook(txn, user_id, device_ids)
        for device_id in device_ids:
            txn.execute("DELETE FROM devices WHERE user_id = ? AND device_id = ?", (user_id, device_id))
            self._pending_last_seen.pop((user_id, device_id), None)
        if device_ids:
            self._after_commit_notify(txn, user_id, True)

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        await self._db.run("delete_devices", self.delete_devices_txn, user_id, device_ids)

    async def delete_all_devices(self, user_id: str) -> None:
        def txn_fn(txn: Transaction) -> None:
            self.delete_devices_txn(txn, user_id, self.get_device_ids_txn(txn, user_id))

        await self._db.run("delete_all_devices", txn_fn)

    # -- last seen ------------------------------------------------------------------------------

    def record_last_seen(self, user_id: str, device_id: str, ip: str, user_agent: str, now_ms: int) -> None:
        self._pending_last_seen[(user_id, device_id)] = (now_ms, ip, user_agent)

    async def get_last_connections(self, user_id: str) -> dict[str, tuple[int, str, str] | None]:
        """device_id -> the (ts, ip, user agent) of each device's latest request (None if it has
        made none since it was created), pending ones included."""
        rows = await self._db.execute(
            "get_last_connections",
            "SELECT device_id, last_seen_ts, last_seen_ip, last_seen_user_agent FROM devices WHERE user_id = ?",
            user_id,
        )
        out: dict[str, tuple[int, str, str] | None] = {}
        for device_id, ts, ip, ua in rows:
            pending = self._unwritten_last_seen(user_id, device_id)
            out[device_id] = pending if pending is not None else (ts, ip or "", ua or "") if ts is not None else None
        return out

    async def flush_last_seen(self) -> None:
        if not self._pending_last_seen:
            return
        batch, self._pending_last_seen = self._pending_last_seen, {}
        self._flushing.append(batch)
        rows = [(ts, ip, ua, user_id, device_id) for (user_id, device_id), (ts, ip, ua) in batch.items()]
        try:
            await self._db.run(
                "flush_last_seen",
                lambda txn: txn.executemany(
                    "UPDATE devices SET last_seen_ts = ?, last_seen_ip = ?, last_seen_user_agent = ? "
                    "WHERE user_id = ? AND device_id = ?",
                    rows,
                ),
            )
        finally:
            self._flushing.remove(batch)
