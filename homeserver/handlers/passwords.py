"""Password hashing (argon2id, on the CPU pool: it is slow on purpose) and the password policy.

Each hash or verification takes `argon2_memlimit` bytes of memory as well as CPU: at most
MAX_CONCURRENT_HASHES run at once, the others wait their turn (at most MAX_QUEUED_HASHES of
them; beyond, 429 with retry_after_ms), so a burst of logins can neither stall the reactor nor
take memory without bound."""

from __future__ import annotations

import os

import nacl.exceptions
import nacl.pwhash

from homeserver.api.errors import Codes, LimitExceeded, MatrixError
from homeserver.config import Config
from homeserver.util.cpu_pool import CpuPool, LimitedRunner

# What the cores can run at once (two at most: the reactor and the rest of the pool need CPU too).
MAX_CONCURRENT_HASHES = max(1, min(2, os.cpu_count() or 1))
# Hashes waiting their turn beyond this are refused (429, come back in a second) rather than
# queued: a flood from many addresses at once, each under its rate limit, cannot pile up requests.
MAX_QUEUED_HASHES = 500
RETRY_AFTER_MS = 1000


class PasswordHandler:
    def __init__(self, config: Config, cpu_pool: CpuPool):
        self.hasher = LimitedRunner(cpu_pool, MAX_CONCURRENT_HASHES)
        self._opslimit = config.argon2_opslimit
        self._memlimit = config.argon2_memlimit
        self._policy = config.password_policy
        self.enabled = config.password_enabled

    async def hash(self, password: str) -> str:
        def work() -> str:
            return nacl.pwhash.argon2id.str(
                password.encode("utf-8"), opslimit=self._opslimit, memlimit=self._memlimit
            ).decode("ascii")

        return await self._run(work)

    async def _run(self, work):  # type: ignore[no-untyped-def]
        if self.hasher.waiting >= MAX_QUEUED_HASHES:
            raise LimitExceeded(retry_after_ms=RETRY_AFTER_MS)
        return await self.hasher.run(work)

    async def verify(self, password: str, stored_hash: str | None) -> bool:
        if not stored_hash:
            return False

        def work() -> bool:
            try:
                return nacl.pwhash.verify(stored_hash.encode("ascii"), password.encode("utf-8"))
            except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError):
                return False

        return await self._run(work)

    def check_policy(self, password: str) -> None:
        """Raise 400 M_WEAK_PASSWORD if the configured policy rejects `password`."""
        p = self._policy
        if not p.get("enabled"):
            return
        problems = []
        if len(password) < p.get("minimum_length", 0):
            problems.append(f"be at least {p['minimum_length']} characters long")
        if p.get("require_digit") and not any(c.isdigit() for c in password):
            problems.append("contain a digit")
        if p.get("require_symbol") and all(c.isalnum() for c in password):
            problems.append("contain a symbol")
        if p.get("require_lowercase") and not any(c.islower() for c in password):
            problems.append("contain a lowercase letter")
        if p.get("require_uppercase") and not any(c.isupper() for c in password):
            problems.append("contain an uppercase letter")
        if problems:
            raise MatrixError(400, Codes.WEAK_PASSWORD, "The password must " + ", ".join(problems))
