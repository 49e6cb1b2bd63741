"""Account management: password change and deactivation."""

from __future__ import annotations

from homeserver.api.errors import forbidden
from homeserver.handlers.passwords import PasswordHandler
from homeserver.storage.users import UsersStore


class AccountHandler:
    def __init__(self, users: UsersStore, passwords: PasswordHandler):
        self._users = users
        self._passwords = passwords

    async def change_password(
        self, user_id: str, current_device_id: str | None, new_password: str, logout_devices: bool
    ) -> None:
        """With `logout_devices`, every device but the current one is logged out."""
        if not self._passwords.enabled:
            raise forbidden("Password changes are disabled on this server")
        self._passwords.check_policy(new_password)
        new_hash = await self._passwords.hash(new_password)
        await self._users.set_password_hash(user_id, new_hash, current_device_id, logout_devices)

    async def deactivate(self, user_id: str) -> None:
        await self._users.deactivate(user_id)
