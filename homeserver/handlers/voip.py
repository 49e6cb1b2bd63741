"""TURN credentials for VoIP calls (spec: client-server API, "Voice over IP", `GET /voip/turnServer`).

With a shared secret (coturn's `use-auth-secret` / `static-auth-secret`), credentials follow the
TURN REST API convention: the username is `<expiry unix time>:<user_id>` and the password is the
base64 of HMAC-SHA1(secret, username), which the TURN server checks by itself, so the credentials
stop working when they expire. Without a secret, a fixed username and password are handed out.
With no TURN server configured, or no credentials, the answer is an empty object (as Synapse's,
which clients take as "no TURN server")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.clock import Clock
from homeserver.config import Config

logger = logging.getLogger(__name__)


def turn_rest_credentials(secret: str, user_id: str, expiry_s: int) -> tuple[str, str]:
    """(username, password) under the TURN REST API convention."""
    username = f"{expiry_s}:{user_id}"
    mac = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1)
    return username, base64.b64encode(mac.digest()).decode("ascii")


class TurnHandler:
    def __init__(self, config: Config, clock: Clock):
        self._uris = list(config.turn_uris)
        self._secret = config.turn_shared_secret
        self._username = config.turn_username
        self._password = config.turn_password
        self._lifetime_s = config.turn_user_lifetime_ms // 1000
        self._allow_guests = config.turn_allow_guests
        self._clock = clock
        self._warn_if_unusable()

    def _warn_if_unusable(self) -> None:
        """TURN URIs with no way to make credentials: `/voip/turnServer` answers `{}` and calls
        that need a relay fail. Said once at start-up (the server is built after logging is set
        up), rather than left for the operator to discover from failed calls."""
        if not self._uris or self._secret or (self._username and self._password):
            return
        if self._username or self._password:
            missing = "turn_password" if self._username else "turn_username"
            why = f"turn_username and turn_password go together, and {missing} is not set"
        else:
            why = "neither turn_shared_secret nor turn_username/turn_password is set"
        logger.warning("turn_uris is set but %s: clients get no TURN server from /voip/turnServer, and calls "
                       "between networks that need a relay will fail. Set turn_shared_secret to coturn's "
                       "static-auth-secret (see docs/calls.md)", why)

    def get_credentials(self, user_id: str, is_guest: bool) -> dict[str, Any]:
        if is_guest and not self._allow_guests:
            raise MatrixError(403, Codes.FORBIDDEN, "Guests may not use the TURN server")
        if not self._uris:
            return {}
        if self._secret:
            expiry_s = int(self._clock.time()) + self._lifetime_s
            username, password = turn_rest_credentials(self._secret, user_id, expiry_s)
        elif self._username and self._password:
            username, password = self._username, self._password
        else:
            return {}
        return {"uris": list(self._uris), "username": username, "password": password, "ttl": self._lifetime_s}
