"""HomeServer: builds every component once and hands it out. The only place that wires things."""

from __future__ import annotations

import logging
from typing import Any

from signedjson.key import SigningKey, read_signing_keys
from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.config import Config, ConfigError
from homeserver.handlers.account import AccountHandler
from homeserver.handlers.auth import AuthHandler
from homeserver.handlers.devices import DeviceHandler
from homeserver.handlers.directory import DirectoryHandler
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.filters import FilterHandler
from homeserver.handlers.login import LoginHandler
from homeserver.handlers.notifications import NotificationCounter
from homeserver.handlers.passwords import PasswordHandler
from homeserver.handlers.presence import PresenceHandler
from homeserver.handlers.profile import AccountDataHandler, ProfileHandler, TagsHandler
from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.handlers.receipts import ReceiptsHandler, TypingHandler
from homeserver.handlers.redaction import RedactionHandler
from homeserver.handlers.registration import RegistrationHandler
from homeserver.handlers.relations import RelationsHandler
from homeserver.handlers.room_extras import RoomExtrasHandler
from homeserver.handlers.room_reads import RoomReadHandler
from homeserver.handlers.rooms import RoomCreationHandler, RoomMemberHandler
from homeserver.handlers.sessions import SessionHandler
from homeserver.handlers.sync import SyncHandler
from homeserver.handlers.uia import UIAHandler
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.notifier import Notifier
from homeserver.ratelimit import RateLimiter
from homeserver.rest import well_known
from homeserver.rest.admin import users as admin_users
from homeserver.rest.client import (
    account,
    devices,
    directory,
    fallback,
    login,
    presence,
    profile,
    push_rules,
    receipts,
    register,
    relations,
    room_extras,
    rooms,
    sync,
    versions,
)
from homeserver.rest.client import (
    filter as filters,
)
from homeserver.rest.http import MatrixResource, MatrixSite, Router
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.database import Database
from homeserver.storage.devices import DevicesStore
from homeserver.storage.directory import DirectoryStore
from homeserver.storage.engines import create_engine
from homeserver.storage.events import EventsStore
from homeserver.storage.filters import FiltersStore
from homeserver.storage.prepare import prepare_database
from homeserver.storage.push_rules import PushRulesStore
from homeserver.storage.receipts import ReceiptsStore
from homeserver.storage.registration_tokens import RegistrationTokensStore
from homeserver.storage.relations import RelationsStore
from homeserver.storage.room_extras import RoomExtrasStore
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.storage.tokens import TokensStore
from homeserver.storage.uia import UIAStore
from homeserver.storage.users import UsersStore

logger = logging.getLogger(__name__)

LAST_SEEN_FLUSH_INTERVAL_S = 5
HOUSEKEEPING_INTERVAL_S = 3600


def load_signing_key(path: str) -> SigningKey:
    """The server's ed25519 key (written by generate-config); it signs every event it creates."""
    try:
        with open(path) as f:
            keys = read_signing_keys(f)
    except FileNotFoundError:
        raise ConfigError(f"Config error at signing_key_path: {path} does not exist "
                          "(homeserver generate-config writes one)") from None
    if not keys:
        raise ConfigError(f"Config error at signing_key_path: no key in {path}")
    return keys[0]


class HomeServer:
    """`reactor` runs threads and sockets; `clock` tells the time (it may be a fake one in tests)."""

    def __init__(self, config: Config, reactor: Any, clock: Clock | None = None):
        self.config = config
        self.reactor = reactor
        self.clock = clock or Clock(reactor)

        # storage
        self.database = Database(create_engine(config.database_name, config.database_args), reactor)
        self.tokens_store = TokensStore(self.database)
        self.devices_store = DevicesStore(self.database, self.tokens_store)
        self.users_store = UsersStore(self.database, self.devices_store, self.tokens_store)
        self.registration_tokens_store = RegistrationTokensStore(self.database)
        self.uia_store = UIAStore(self.database)
        self.directory_store = DirectoryStore(self.database)
        self.state_groups_store = StateGroupsStore(self.database)
        self.relations_store = RelationsStore(self.database)
        self.account_data_store = AccountDataStore(self.database)
        self.receipts_store = ReceiptsStore(self.database)
        self.events_store = EventsStore(self.database, self.state_groups_store, self.relations_store)
        self.room_extras_store = RoomExtrasStore(self.database)
        self.push_rules_store = PushRulesStore(self.database)
        self.filters_store = FiltersStore(self.database)

        # rate limits
        self.registration_limiter = RateLimiter(self.clock, config.rc_registration)
        self.registration_token_validity_limiter = RateLimiter(self.clock, config.rc_registration_token_validity)
        self.login_address_limiter = RateLimiter(self.clock, config.rc_login_address)
        self.login_account_limiter = RateLimiter(self.clock, config.rc_login_account)
        self.login_failed_limiter = RateLimiter(self.clock, config.rc_login_failed_attempts)
        self.message_limiter = RateLimiter(self.clock, config.rc_message)

        # handlers
        self.passwords = PasswordHandler(config, reactor)
        self.auth_handler = AuthHandler(self.clock, self.tokens_store, self.devices_store, self.users_store)
        self.session_handler = SessionHandler(config, self.clock, self.database, self.tokens_store,
                                              self.devices_store)
        self.uia_handler = UIAHandler(config, self.clock, self.uia_store, self.users_store, self.passwords,
                                      self.registration_tokens_store, self.login_failed_limiter)
        self.registration_handler = RegistrationHandler(
            config, self.clock, self.users_store, self.passwords, self.session_handler, self.uia_handler,
            self.registration_tokens_store,
        )
        self.login_handler = LoginHandler(config, self.users_store, self.passwords, self.session_handler,
                                          self.login_account_limiter, self.login_failed_limiter)
        self.account_handler = AccountHandler(self.users_store, self.passwords)
        self.device_handler = DeviceHandler(self.devices_store)
        self.filter_handler = FilterHandler(self.filters_store)
        self.signing_key = load_signing_key(config.signing_key_path)
        self.notifier = Notifier(self.clock)
        self.push_rules_handler = PushRulesHandler(self.push_rules_store, self.account_data_store,
                                                   self.notifier)
        self.event_creation_handler = EventCreationHandler(
            config.server_name, self.signing_key, self.clock, self.events_store, self.state_groups_store,
            self.notifier)
        self.directory_handler = DirectoryHandler(config.server_name, self.clock, self.directory_store,
                                                  self.events_store, self.event_creation_handler,
                                                  self.auth_handler)
        self.room_creation_handler = RoomCreationHandler(config, self.events_store, self.event_creation_handler,
                                                         self.users_store, self.directory_handler)
        self.room_member_handler = RoomMemberHandler(self.events_store, self.event_creation_handler,
                                                     self.users_store)
        self.visibility = VisibilityHandler(self.events_store, self.state_groups_store)
        self.relations_handler = RelationsHandler(self.events_store, self.relations_store, self.visibility)
        self.room_read_handler = RoomReadHandler(self.clock, self.events_store, self.state_groups_store,
                                                 self.visibility, self.relations_handler,
                                                 forgotten_rooms=self.room_extras_store,
                                                 account_data=self.account_data_store)
        self.profile_handler = ProfileHandler(config, self.users_store, self.account_data_store, self.events_store,
                                              self.event_creation_handler)
        self.account_data_handler = AccountDataHandler(self.account_data_store, self.events_store, self.notifier)
        self.tags_handler = TagsHandler(self.account_data_handler, self.account_data_store)
        self.typing_handler = TypingHandler(self.clock, self.events_store, self.notifier)
        self.receipts_handler = ReceiptsHandler(self.clock, self.events_store, self.receipts_store,
                                                self.account_data_store, self.visibility, self.notifier)
        self.presence_handler = PresenceHandler(config.presence_enabled, config.server_name, self.clock,
                                                self.events_store, self.users_store, self.notifier)
        self.notification_counter = NotificationCounter(self.events_store, self.receipts_store,
                                                        self.push_rules_handler)
        self.sync_handler = SyncHandler(self.events_store, self.state_groups_store, self.visibility,
                                        self.room_read_handler, self.notifier, self.account_data_store,
                                        self.receipts_store, self.receipts_handler, self.typing_handler,
                                        self.push_rules_handler, self.presence_handler,
                                        self.notification_counter)
        self.redaction_handler = RedactionHandler(self.events_store, self.event_creation_handler)
        self.room_extras_handler = RoomExtrasHandler(
            config.server_name, self.clock, self.events_store, self.state_groups_store, self.visibility,
            self.room_read_handler, self.event_creation_handler, self.room_creation_handler,
            self.room_member_handler, self.room_extras_store, self.directory_handler)

        self._looping_calls: list[Any] = []

    def build_router(self) -> Router:
        router = Router()
        for module in (versions, register, login, account, devices, fallback, rooms, room_extras, relations,
                       directory, sync, filters, profile, presence, receipts, push_rules, well_known,
                       admin_users):
            module.register_servlets(self, router)
        return router

    def build_site(self, x_forwarded: bool = False) -> MatrixSite:
        return MatrixSite(MatrixResource(self.build_router()), self.config.max_request_body_size,
                          self.config.max_upload_size, x_forwarded)

    async def start(self) -> None:
        """Open the database, migrate it, load ID counters, start background jobs."""
        self.database.start()
        await prepare_database(self.database)
        await self.tokens_store.load()
        await self.state_groups_store.load()
        await self.events_store.load()
        await self.account_data_store.load()
        await self.receipts_store.load()
        await self.room_extras_store.load()
        self.presence_handler.start()
        self._looping_calls = [
            self.clock.looping_call(LAST_SEEN_FLUSH_INTERVAL_S, self._flush_last_seen),
            self.clock.looping_call(HOUSEKEEPING_INTERVAL_S, self._housekeeping),
        ]

    def _flush_last_seen(self) -> defer.Deferred:
        return defer.ensureDeferred(self._run_logged("flush last seen", self.devices_store.flush_last_seen))

    def _housekeeping(self) -> defer.Deferred:
        async def work() -> None:
            await self._run_logged("expire UIA sessions", self.uia_handler.expire_old_sessions)
            await self._run_logged("expire login tokens", lambda: self.tokens_store.delete_expired_login_tokens(
                self.clock.time_msec()))

        return defer.ensureDeferred(work())

    async def _run_logged(self, what: str, fn: Any) -> None:
        try:
            await fn()
        except Exception:
            logger.exception("Background job failed: %s", what)

    async def stop(self) -> None:
        self.presence_handler.stop()
        for call in self._looping_calls:
            if call.running:
                call.stop()
        await self._run_logged("flush last seen", self.devices_store.flush_last_seen)
        self.database.stop()
