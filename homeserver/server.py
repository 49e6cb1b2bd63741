"""HomeServer: builds every component once and hands it out. The only place that wires things."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from signedjson.key import SigningKey, read_signing_keys
from twisted.internet import defer
from twisted.web.resource import Resource

from homeserver.clock import Clock
from homeserver.config import Config, ConfigError
from homeserver.federation.api import FederationApi
from homeserver.federation.backoff import Backoff
from homeserver.federation.client import FederationHttpClient
from homeserver.federation.discovery import DnsSrvResolver, SrvRecord, SrvResolver
from homeserver.federation.hierarchy import RemoteHierarchy
from homeserver.federation.keys import KeyRing, ServerKeys, notaries
from homeserver.federation.sender import FederationSender
from homeserver.federation.server_acl import ServerAclChecker
from homeserver.federation.transport import e2e as federation_e2e
from homeserver.federation.transport import events as federation_events
from homeserver.federation.transport import keys as federation_keys
from homeserver.federation.transport import media as federation_media
from homeserver.federation.transport import membership as federation_membership
from homeserver.federation.transport import query as federation_query
from homeserver.federation.transport import transactions as federation_transactions
from homeserver.federation.transport import version as federation_version
from homeserver.federation.transport.server import federates_with
from homeserver.handlers.account import AccountHandler
from homeserver.handlers.auth import AuthHandler
from homeserver.handlers.backfill import BackfillHandler
from homeserver.handlers.cross_signing import CrossSigningHandler
from homeserver.handlers.dehydrated_devices import DehydratedDeviceHandler
from homeserver.handlers.delayed_events import DelayedEventSettings, DelayedEventsHandler
from homeserver.handlers.device_lists import DeviceListsHandler
from homeserver.handlers.devices import DeviceHandler
from homeserver.handlers.directory import DirectoryHandler
from homeserver.handlers.e2e_keys import E2EKeysHandler
from homeserver.handlers.email_notifications import EmailNotifier
from homeserver.handlers.event_checker import EventChecker
from homeserver.handlers.event_stream import EventStreamHandler
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.federation_destinations import DestinationsAdminHandler
from homeserver.handlers.federation_events import FederationEventHandler
from homeserver.handlers.federation_membership import FederationMembershipHandler
from homeserver.handlers.federation_queries import FederationQueryHandler
from homeserver.handlers.federation_reads import FederationReadHandler
from homeserver.handlers.filters import FilterHandler
from homeserver.handlers.guest_access import GuestAccessHandler
from homeserver.handlers.initial_sync import InitialSyncHandler
from homeserver.handlers.key_backup import KeyBackupHandler
from homeserver.handlers.login import LoginHandler
from homeserver.handlers.media.config import MediaConfig
from homeserver.handlers.media.remote import REMOTE_MEDIA_TIMEOUT_S, RemoteMediaFetcher
from homeserver.handlers.media.repository import MediaRepository
from homeserver.handlers.media.url_preview import UrlPreviewer
from homeserver.handlers.media_admin import MediaAdminHandler
from homeserver.handlers.mutual_rooms import MutualRoomsHandler
from homeserver.handlers.notification_list import NotificationListHandler
from homeserver.handlers.notifications import NotificationCounter
from homeserver.handlers.openid import OpenIdHandler
from homeserver.handlers.passwords import PasswordHandler
from homeserver.handlers.persister import EventPersister
from homeserver.handlers.presence import PresenceHandler
from homeserver.handlers.profile import AccountDataHandler, ProfileHandler, TagsHandler
from homeserver.handlers.push_actions import PushActionsHandler
from homeserver.handlers.push_delivery import PushContent, PusherPool, PushSettings
from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.handlers.pushers import PusherHandler
from homeserver.handlers.read_positions import ReadPositions
from homeserver.handlers.receipts import ReceiptsHandler, TypingHandler
from homeserver.handlers.redaction import RedactionHandler
from homeserver.handlers.registration import RegistrationHandler
from homeserver.handlers.relations import RelationsHandler
from homeserver.handlers.remote_device_lists import RemoteDeviceListsHandler
from homeserver.handlers.remote_joins import RemoteJoinHandler
from homeserver.handlers.room_admin import RoomAdminHandler
from homeserver.handlers.room_extras import RoomExtrasHandler
from homeserver.handlers.room_reads import RoomReadHandler
from homeserver.handlers.room_send import RoomSendHandler
from homeserver.handlers.rooms import RoomCreationHandler, RoomMemberHandler
from homeserver.handlers.search import SearchHandler
from homeserver.handlers.server_notices import ServerNoticesHandler
from homeserver.handlers.sessions import SessionHandler
from homeserver.handlers.sliding_sync import SlidingSyncHandler
from homeserver.handlers.space_hierarchy import SpaceHierarchyHandler
from homeserver.handlers.sync import SyncHandler
from homeserver.handlers.thirdparty import ThirdPartyLookupHandler
from homeserver.handlers.threepids import ThreepidHandler
from homeserver.handlers.to_device import ToDeviceHandler
from homeserver.handlers.uia import UIAHandler
from homeserver.handlers.upgrade_settings import UpgradeSettingsHandler
from homeserver.handlers.user_admin import UserAdminHandler
from homeserver.handlers.user_directory import UserDirectoryHandler
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.handlers.voip import TurnHandler
from homeserver.mail.outbox import Mailer
from homeserver.mail.smtp import SmtpTransport
from homeserver.notifier import Notifier
from homeserver.outbound import OutboundHttp
from homeserver.push.gateway import PushGatewayClient
from homeserver.ratelimit import MembershipLimiters, RateLimiter
from homeserver.rest import media, openid, well_known
from homeserver.rest.admin import accounts as admin_accounts
from homeserver.rest.admin import federation as admin_federation
from homeserver.rest.admin import media as admin_media
from homeserver.rest.admin import rooms as admin_rooms
from homeserver.rest.admin import server as admin_server
from homeserver.rest.admin import users as admin_users
from homeserver.rest.client import (
    account,
    dehydrated_devices,
    delayed_events,
    devices,
    directory,
    fallback,
    keys,
    login,
    matrix_rtc,
    mutual_rooms,
    old_sync,
    presence,
    profile,
    push_rules,
    pushers,
    receipts,
    register,
    relations,
    room_extras,
    room_keys,
    rooms,
    search,
    spaces,
    sync,
    thirdparty,
    threepid,
    to_device,
    user_directory,
    versions,
    voip,
    whois,
)
from homeserver.rest.client import (
    filter as filters,
)
from homeserver.rest.health import HealthCheckRoot
from homeserver.rest.http import MatrixResource, MatrixSite, Router
from homeserver.rest.web_client import RootResource, WebClientResource
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.database import Database
from homeserver.storage.dehydrated_devices import DehydratedDevicesStore
from homeserver.storage.delayed_events import DelayedEventsStore
from homeserver.storage.destinations import DestinationsStore
from homeserver.storage.device_lists import DeviceListsStore
from homeserver.storage.devices import DevicesStore
from homeserver.storage.directory import DirectoryStore
from homeserver.storage.e2e_keys import E2EKeysStore
from homeserver.storage.email_outbox import EmailOutboxStore
from homeserver.storage.engines import MissingDriverError, create_engine
from homeserver.storage.events import EventsStore
from homeserver.storage.filters import FiltersStore
from homeserver.storage.key_backup import KeyBackupStore
from homeserver.storage.media import MediaStore
from homeserver.storage.openid_tokens import OpenIdTokensStore
from homeserver.storage.prepare import prepare_database
from homeserver.storage.presence import PresenceStore
from homeserver.storage.push_rules import PushRulesStore
from homeserver.storage.pushers import PushersStore
from homeserver.storage.receipts import ReceiptsStore
from homeserver.storage.registration_tokens import RegistrationTokensStore
from homeserver.storage.relations import RelationsStore
from homeserver.storage.remote_device_lists import RemoteDeviceListsStore
from homeserver.storage.room_admin import RoomAdminStore
from homeserver.storage.room_extras import RoomExtrasStore
from homeserver.storage.search import SearchStore
from homeserver.storage.server_keys import ServerKeysStore
from homeserver.storage.server_notices import ServerNoticesStore
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.storage.threepids import ThreepidsStore
from homeserver.storage.to_device import ToDeviceStore
from homeserver.storage.tokens import TokensStore
from homeserver.storage.uia import UIAStore
from homeserver.storage.user_admin import UserAdminStore
from homeserver.storage.user_directory import UserDirectoryStore
from homeserver.storage.users import UsersStore
from homeserver.util.caches import configure_caches
from homeserver.util.cpu_pool import CpuPool

logger = logging.getLogger(__name__)

LAST_SEEN_FLUSH_INTERVAL_S = 5
HOUSEKEEPING_INTERVAL_S = 3600
MEDIA_RETENTION_INTERVAL_S = 3600
NOTIFICATION_RETENTION_MS = 30 * 24 * 3600 * 1000  # GET /notifications goes back a month


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


class _LazyFederationFetcher:
    """The federation client as the key ring and FederationApi use it: built on first use."""

    def __init__(self, hs: HomeServer):
        self._hs = hs

    async def get_json(self, destination: str, path: str, query: dict[str, Any] | None = None) -> Any:
        return await self._hs.federation_client.get_json(destination, path, query)

    async def post_json(self, destination: str, path: str, body: Any) -> Any:
        return await self._hs.federation_client.post_json(destination, path, body)

    async def put_json(self, destination: str, path: str, body: Any, query: dict[str, Any] | None = None) -> Any:
        return await self._hs.federation_client.put_json(destination, path, body, query)

    async def get_raw(self, destination: str, path: str, query: dict[str, Any] | None = None, *,
                      max_response_size: int, timeout_s: float | None = None) -> Any:
        return await self._hs.federation_client.get_raw(destination, path, query,
                                                        max_response_size=max_response_size, timeout_s=timeout_s)


class _CurrentSrvResolver:
    """hs.srv_resolver as it is at each lookup."""

    def __init__(self, hs: HomeServer):
        self._hs = hs

    async def lookup_srv(self, name: str) -> list[SrvRecord]:
        return await self._hs.srv_resolver.lookup_srv(name)


class HomeServer:
    """`reactor` runs threads and sockets; `clock` tells the time (it may be a fake one in tests);
    `cpu_pool` runs CPU-heavy work off the reactor thread (tests hand in one that runs in place)."""

    def __init__(self, config: Config, reactor: Any, clock: Clock | None = None, cpu_pool: CpuPool | None = None):
        self.config = config
        # Before any store builds its caches (those built earlier are resized too).
        configure_caches(config.cache_global_factor, config.cache_factors, {"events": config.event_cache_size})
        self.reactor = reactor
        self.clock = clock or Clock(reactor)
        self.cpu_pool = cpu_pool or CpuPool(reactor)
        # Every outgoing request to an address a user or another server chose goes through it.
        self.outbound = OutboundHttp(reactor)
        # SRV lookups of server discovery (looked up at each use: tests swap it, like outbound.resolver).
        self.srv_resolver: SrvResolver = DnsSrvResolver(reactor)
        self._federation_client: FederationHttpClient | None = None

        # storage
        try:
            engine = create_engine(config.database_name, config.database_args)
        except MissingDriverError as e:
            raise ConfigError(f"Config error at database.name: {e}") from None
        self.database = Database(engine, reactor)
        self.tokens_store = TokensStore(self.database)
        self.devices_store = DevicesStore(self.database, self.tokens_store)
        self.users_store = UsersStore(self.database, self.devices_store, self.tokens_store)
        self.registration_tokens_store = RegistrationTokensStore(self.database)
        self.uia_store = UIAStore(self.database)
        self.threepids_store = ThreepidsStore(self.database)
        self.email_outbox_store = EmailOutboxStore(self.database)
        self.openid_tokens_store = OpenIdTokensStore(self.database)
        self.directory_store = DirectoryStore(self.database)
        self.state_groups_store = StateGroupsStore(self.database)
        self.relations_store = RelationsStore(self.database)
        self.account_data_store = AccountDataStore(self.database)
        self.receipts_store = ReceiptsStore(self.database)
        self.events_store = EventsStore(self.database, self.state_groups_store, self.relations_store)
        self.room_extras_store = RoomExtrasStore(self.database)
        self.push_rules_store = PushRulesStore(self.database)
        self.filters_store = FiltersStore(self.database)
        self.media_store = MediaStore(self.database)
        self.search_store = SearchStore(self.database)
        self.server_keys_store = ServerKeysStore(self.database)
        self.destinations_store = DestinationsStore(self.database)
        self.user_directory_store = UserDirectoryStore(self.database)
        self.user_admin_store = UserAdminStore(self.database)
        self.room_admin_store = RoomAdminStore(self.database, config.server_name)
        self.server_notices_store = ServerNoticesStore(self.database)
        # Both indexes are written in the transactions that change what they index.
        self.events_store.persist_hooks.append(self.search_store.index_event_txn)
        self.events_store.persist_hooks.append(self.user_directory_store.on_event_txn)
        self.users_store.user_changed_hooks.append(self.user_directory_store.update_user_txn)
        # An event sent for a delayed event takes the scheduled row away in its own transaction.
        self.delayed_events_store = DelayedEventsStore(self.database)
        self.events_store.persist_hooks.append(self.delayed_events_store.on_event_persisted_txn)
        self.presence_store = PresenceStore(self.database)
        self.to_device_store = ToDeviceStore(self.database)
        self.key_backup_store = KeyBackupStore(self.database)
        self.dehydrated_devices_store = DehydratedDevicesStore(self.database, self.devices_store)
        self.devices_store.add_deletion_hook(self.to_device_store.delete_devices_txn)
        self.devices_store.add_deletion_hook(self.dehydrated_devices_store.delete_devices_txn)
        self.e2e_keys_store = E2EKeysStore(self.database)
        self.device_lists_store = DeviceListsStore(self.database)
        self.remote_device_lists_store = RemoteDeviceListsStore(self.database)
        self.devices_store.add_deletion_hook(self.e2e_keys_store.delete_devices_keys_txn)
        self.pushers_store = PushersStore(self.database)
        # A pusher belongs to the device that set it up: logout (and deactivation) removes it.
        self.devices_store.add_deletion_hook(self.pushers_store.delete_devices_txn)
        # A device's creation, rename or deletion changes what /keys/query shows (cached per user).
        self.devices_store.change_listeners.append(self.e2e_keys_store.forget_device_keys)

        # rate limits
        self.registration_limiter = RateLimiter(self.clock, config.rc_registration)
        self.threepid_validation_limiter = RateLimiter(self.clock, config.rc_3pid_validation)
        self.registration_token_validity_limiter = RateLimiter(self.clock, config.rc_registration_token_validity)
        self.login_address_limiter = RateLimiter(self.clock, config.rc_login_address)
        self.login_account_limiter = RateLimiter(self.clock, config.rc_login_account)
        self.login_failed_limiter = RateLimiter(self.clock, config.rc_login_failed_attempts)
        self.message_limiter = RateLimiter(self.clock, config.rc_message)
        self.delayed_event_mgmt_limiter = RateLimiter(self.clock, config.rc_delayed_event_mgmt)
        self.membership_limiters = MembershipLimiters(
            join_local=RateLimiter(self.clock, config.rc_joins_local),
            join_remote=RateLimiter(self.clock, config.rc_joins_remote),
            join_per_room=RateLimiter(self.clock, config.rc_joins_per_room),
            invite_per_room=RateLimiter(self.clock, config.rc_invites_per_room),
            invite_per_user=RateLimiter(self.clock, config.rc_invites_per_user),
            invite_per_issuer=RateLimiter(self.clock, config.rc_invites_per_issuer),
            room_creation=RateLimiter(self.clock, config.rc_room_creation),
        )
        self.presence_limiter = RateLimiter(self.clock, config.rc_presence_per_user)
        self.key_requests_limiter = RateLimiter(self.clock, config.rc_key_requests)
        self.media_create_limiter = RateLimiter(self.clock, config.rc_media_create)
        # Both per client IP address and per address being validated (the 3PID endpoints use it).
        # Redactions of other users' events; rc_message when rc_admin_redaction is not set. The
        # admin API's own redactions (e.g. of all of a user's events) may take from it too.
        self.admin_redaction_limiter = RateLimiter(self.clock, config.rc_admin_redaction) \
            if config.rc_admin_redaction is not None else self.message_limiter

        # handlers
        self.passwords = PasswordHandler(config, self.cpu_pool)
        self.auth_handler = AuthHandler(self.clock, self.tokens_store, self.devices_store, self.users_store)
        self.session_handler = SessionHandler(config, self.clock, self.database, self.tokens_store,
                                              self.devices_store)
        # E-mail (config.email): mails go through the outbox; validation sessions and bound addresses.
        self.mailer: Mailer | None = None
        if config.email is not None:
            self.mailer = Mailer(self.clock, self.email_outbox_store, SmtpTransport(reactor, config.email),
                                 config.email.notif_from)
        self.threepid_handler = ThreepidHandler(config, self.clock, self.threepids_store, self.mailer)
        self.uia_handler = UIAHandler(config, self.clock, self.uia_store, self.users_store, self.passwords,
                                      self.registration_tokens_store, self.login_failed_limiter,
                                      threepids=self.threepid_handler)
        self.registration_handler = RegistrationHandler(
            config, self.clock, self.users_store, self.passwords, self.session_handler, self.uia_handler,
            self.registration_tokens_store, self.tokens_store, threepids=self.threepid_handler,
        )
        self.login_handler = LoginHandler(config, self.users_store, self.passwords, self.session_handler,
                                          self.login_account_limiter, self.login_failed_limiter,
                                          threepids=self.threepid_handler)
        self.device_handler = DeviceHandler(self.devices_store)
        self.openid_handler = OpenIdHandler(config.server_name, self.clock, self.openid_tokens_store,
                                            self.users_store)
        self.turn_handler = TurnHandler(config, self.clock)
        self.thirdparty_handler = ThirdPartyLookupHandler()
        self.filter_handler = FilterHandler(self.filters_store)
        self.signing_key = load_signing_key(config.signing_key_path)
        self.notifier = Notifier(self.clock, self.config.max_long_polls_per_user)
        self.notifier.track_streams([self.events_store.stream, self.account_data_store.stream,
                                     self.receipts_store.stream, self.to_device_store.stream,
                                     self.device_lists_store.stream])
        self.push_rules_handler = PushRulesHandler(self.push_rules_store, self.account_data_store,
                                                   self.notifier)
        # Every event is persisted here; after each commit its listeners hear of it, in this order.
        self.event_persister = EventPersister(self.events_store, self.state_groups_store, self.clock.time_msec)
        self.event_persister.add_listener(self.notifier.on_event_persisted)
        try:
            self.server_keys = ServerKeys(config.server_name, self.signing_key, config.old_signing_keys, self.clock,
                                          config.key_refresh_interval_ms)
            trusted = notaries(config)
        except ValueError as e:
            raise ConfigError(f"Config error at {e}") from None
        self.keyring = KeyRing(self.server_keys, self.server_keys_store, self.clock, trusted)
        self.keyring.set_fetcher(_LazyFederationFetcher(self))
        self.federation_api = FederationApi(_LazyFederationFetcher(self))
        self.event_checker = EventChecker(self.events_store, self.keyring)
        # Per-destination backoff of outgoing federation, written through to the destinations table.
        self.federation_backoff = Backoff(self.clock, store=self.destinations_store)
        self.destinations_admin_handler = DestinationsAdminHandler(self.destinations_store, self.federation_backoff)
        # The rooms' m.room.server_acl, applied to other servers' requests (federation/transport).
        self.server_acl = ServerAclChecker(self.events_store)
        self.event_creation_handler = EventCreationHandler(
            config.server_name, self.signing_key, self.clock, self.events_store, self.state_groups_store,
            self.event_checker, self.event_persister)
        self.directory_handler = DirectoryHandler(config.server_name, self.clock, self.directory_store,
                                                  self.events_store, self.event_creation_handler,
                                                  self.auth_handler, self.federation_api)
        self.remote_join_handler = RemoteJoinHandler(config.server_name, self.signing_key, self.clock,
                                                     self.events_store, self.event_checker, self.event_persister,
                                                     self.federation_api)
        self.room_creation_handler = RoomCreationHandler(config, self.events_store, self.event_creation_handler,
                                                         self.users_store, self.directory_handler,
                                                         self.event_persister, self.remote_join_handler,
                                                         self.membership_limiters)
        self.room_member_handler = RoomMemberHandler(config.server_name, self.events_store, self.event_creation_handler,
                                                     self.users_store, self.directory_handler,
                                                     self.remote_join_handler, self.membership_limiters,
                                                     blocked_rooms=self.room_admin_store)
        self.event_persister.add_listener(self.room_member_handler.on_event_persisted)
        self.guest_access_handler = GuestAccessHandler(config.server_name, self.events_store, self.users_store,
                                                       self.room_member_handler)
        self.event_persister.add_listener(self.guest_access_handler.on_event_persisted)
        self.account_handler = AccountHandler(self.clock, self.users_store, self.passwords, self.events_store,
                                              self.room_member_handler, self.key_backup_store,
                                              self.account_data_store, threepids=self.threepid_handler)
        self.visibility = VisibilityHandler(self.events_store, self.state_groups_store, self.users_store)
        self.space_hierarchy_handler = SpaceHierarchyHandler(
            self.clock, self.events_store, RemoteHierarchy(config.server_name, self.clock, self.federation_api))
        self.relations_handler = RelationsHandler(self.events_store, self.relations_store, self.visibility)
        self.room_send_handler = RoomSendHandler(self.event_creation_handler, self.relations_handler,
                                                 self.directory_handler, self.users_store)
        self.delayed_events_handler = DelayedEventsHandler(
            DelayedEventSettings(config.max_event_delay_ms, config.max_delayed_events_per_user), self.clock,
            self.delayed_events_store, self.events_store, self.room_send_handler, self.delayed_event_mgmt_limiter)
        # A state change by another sender cancels the delayed state events it overrides.
        self.event_persister.add_listener(self.delayed_events_handler.on_event_persisted)
        self.backfill_handler = BackfillHandler(config.server_name, self.events_store, self.state_groups_store,
                                                self.event_checker, self.event_persister, self.federation_api)
        self.room_read_handler = RoomReadHandler(self.clock, self.events_store, self.state_groups_store,
                                                 self.visibility, self.relations_handler,
                                                 forgotten_rooms=self.room_extras_store,
                                                 account_data=self.account_data_store,
                                                 backfill=self.backfill_handler)
        self.federation_membership_handler = FederationMembershipHandler(
            config.server_name, self.signing_key, self.events_store, self.event_creation_handler, self.event_checker,
            self.event_persister, self.users_store, self.membership_limiters.invite_per_user)
        self.federation_event_handler = FederationEventHandler(
            config.server_name, self.clock, self.events_store, self.state_groups_store, self.event_creation_handler,
            self.event_checker,
            self.event_persister, self.federation_api, self.server_acl)
        self.federation_sender = FederationSender(
            config.server_name, self.clock, self.events_store, self.federation_api,
            lambda server: federates_with(self, server), self.destinations_store)
        self.event_persister.add_listener(self.federation_sender.on_event_persisted)
        # An operator's reset_connection (admin API): the sender retries the destination at once.
        self.federation_backoff.reset_listeners.append(self.federation_sender.on_peer_contact)
        self.federation_read_handler = FederationReadHandler(config.server_name, self.events_store,
                                                             self.state_groups_store, self.visibility,
                                                             self.room_extras_store)
        self.profile_handler = ProfileHandler(config, self.users_store, self.account_data_store, self.events_store,
                                              self.event_creation_handler, self.federation_api, self.clock)
        self.federation_query_handler = FederationQueryHandler(
            config.server_name, self.directory_handler, self.profile_handler, self.events_store,
            config.allow_public_rooms_over_federation, config.allow_profile_lookup_over_federation)
        self.account_data_handler = AccountDataHandler(self.account_data_store, self.events_store, self.notifier)
        self.tags_handler = TagsHandler(self.account_data_handler, self.account_data_store)
        self.typing_handler = TypingHandler(self.clock, self.events_store, self.notifier,
                                            edus=self.federation_sender)
        self.receipts_handler = ReceiptsHandler(self.clock, self.events_store, self.receipts_store,
                                                self.account_data_store, self.visibility, self.notifier,
                                                edus=self.federation_sender)
        self.federation_event_handler.edu_handlers.update({
            "m.typing": self.typing_handler.on_remote_typing,
            "m.receipt": self.receipts_handler.on_remote_receipts,
        })
        self.presence_handler = PresenceHandler(config.presence_enabled, config.server_name, self.clock,
                                                self.events_store, self.users_store, self.notifier,
                                                self.presence_store, edus=self.federation_sender,
                                                limiter=self.presence_limiter)
        self.federation_event_handler.edu_handlers["m.presence"] = self.presence_handler.on_remote_presence
        self.notification_counter = NotificationCounter(self.events_store, self.receipts_store,
                                                        self.push_rules_handler, self.account_data_store)
        self._build_push(config, reactor)
        self.to_device_handler = ToDeviceHandler(config.server_name, self.clock, self.to_device_store,
                                                 self.devices_store, self.notifier,
                                                 config.max_to_device_message_size, edus=self.federation_sender,
                                                 key_requests_limiter=self.key_requests_limiter)
        self.key_backup_handler = KeyBackupHandler(self.key_backup_store)
        self.device_lists_handler = DeviceListsHandler(self.device_lists_store, self.notifier, self.events_store,
                                                       config.server_name, edus=self.federation_sender)
        # Every device creation, rename and deletion (in whichever module's transaction) is a device-list change.
        self.devices_store.change_listeners.append(self.device_lists_handler.on_device_committed)
        self.remote_device_lists_handler = RemoteDeviceListsHandler(
            config.server_name, self.clock, self.remote_device_lists_store, self.events_store,
            self.device_lists_handler, self.federation_api)
        self.event_persister.add_listener(self.remote_device_lists_handler.on_event_persisted)
        self.e2e_keys_handler = E2EKeysHandler(config.server_name, self.clock, self.e2e_keys_store,
                                               self.device_lists_handler, self.federation_api,
                                               self.remote_device_lists_handler)
        self.federation_event_handler.edu_handlers.update({
            "m.device_list_update": self.remote_device_lists_handler.on_device_list_update,
            "m.signing_key_update": self.remote_device_lists_handler.on_signing_key_update,
            "m.direct_to_device": self.to_device_handler.on_remote_to_device,
        })
        self.cross_signing_handler = CrossSigningHandler(self.clock, self.e2e_keys_store, self.e2e_keys_handler,
                                                         self.devices_store, self.device_lists_handler)
        self.dehydrated_device_handler = DehydratedDeviceHandler(
            self.dehydrated_devices_store, self.devices_store, self.to_device_store, self.e2e_keys_handler.upload)
        self.sync_handler = SyncHandler(self.events_store, self.state_groups_store, self.visibility,
                                        self.room_read_handler, self.notifier, self.account_data_store,
                                        self.receipts_store, self.receipts_handler, self.typing_handler,
                                        self.push_rules_handler, self.presence_handler,
                                        self.notification_counter, to_device=self.to_device_handler,
                                        device_lists=self.device_lists_handler, e2e_keys=self.e2e_keys_handler)
        self.sliding_sync_handler = SlidingSyncHandler(
            self.sync_handler, self.events_store, self.room_read_handler, self.notifier, self.account_data_store,
            self.receipts_handler, self.typing_handler, self.push_rules_handler, self.notification_counter,
            self.to_device_handler, self.device_lists_handler, self.e2e_keys_handler)
        self.redaction_handler = RedactionHandler(self.events_store, self.event_creation_handler,
                                                  self.message_limiter, self.admin_redaction_limiter)
        self.search_handler = SearchHandler(self.search_store, self.events_store, self.state_groups_store,
                                            self.visibility, self.room_read_handler, self.account_data_store)
        self.initial_sync_handler = InitialSyncHandler(self.events_store, self.room_read_handler,
                                                       self.directory_handler, self.account_data_store,
                                                       self.presence_handler)
        self.event_stream_handler = EventStreamHandler(self.events_store, self.room_read_handler, self.visibility,
                                                       self.account_data_store, self.notifier)
        self.mutual_rooms_handler = MutualRoomsHandler(self.events_store)
        self.user_directory_handler = UserDirectoryHandler(self.user_directory_store, config.user_directory_enabled,
                                                           config.user_directory_search_all_users)
        self.room_extras_handler = RoomExtrasHandler(
            config.server_name, self.clock, self.events_store, self.state_groups_store, self.visibility,
            self.room_read_handler, self.event_creation_handler, self.room_creation_handler,
            self.room_member_handler, self.room_extras_store, self.directory_handler, users=self.users_store)
        media_config = MediaConfig.from_config(config)
        # Other servers' media: over federation; a Location they answer with is fetched under the
        # federation IP range policy, bounded like an upload.
        remote_media = RemoteMediaFetcher(
            self.federation_api,
            self.outbound.client(policy=config.federation_ip_range_policy, timeout_s=REMOTE_MEDIA_TIMEOUT_S,
                                 max_response_size=media_config.max_upload_size, max_redirects=5),
            media_config.max_upload_size)
        self.media_repository = MediaRepository(media_config, config.server_name, self.clock, reactor,
                                                self.media_store, self.cpu_pool, remote_media)
        self.user_admin_handler = UserAdminHandler(
            config.server_name, self.clock, self.users_store, self.user_admin_store, self.passwords,
            self.account_handler, self.profile_handler, self.session_handler, self.devices_store, self.device_handler,
            self.events_store, self.media_repository, self.pusher_handler, self.account_data_store,
            self.registration_handler, self.threepid_handler)
        self.room_admin_handler = RoomAdminHandler(
            config.server_name, self.clock, self.room_admin_store, self.events_store, self.state_groups_store,
            self.room_read_handler, self.room_member_handler, self.room_creation_handler,
            self.event_creation_handler, self.directory_handler, self.directory_store, self.users_store,
            self.redaction_handler)
        self.server_notices_handler = ServerNoticesHandler(
            config.server_notices, config.server_name, self.clock, self.users_store, self.server_notices_store,
            self.events_store, self.room_creation_handler, self.room_member_handler, self.event_creation_handler,
            self.tags_handler)
        self.media_admin_handler = MediaAdminHandler(config.server_name, self.media_store, self.media_repository,
                                                     self.room_admin_store, self.users_store)
        self.url_previewer = UrlPreviewer(media_config, self.clock, self.outbound, self.cpu_pool,
                                          self.media_store, self.media_repository)

        self._looping_calls: list[Any] = []

    @property
    def federation_client(self) -> FederationHttpClient:
        """Signed requests to other homeservers (built at first use)."""
        if self._federation_client is None:
            config = self.config
            self._federation_client = FederationHttpClient(
                config.server_name, self.signing_key, self.clock, self.outbound, config.federation_ip_range_policy,
                config.federation_tls, _CurrentSrvResolver(self), config.federation_domain_whitelist,
                backoff=self.federation_backoff)
        return self._federation_client

    def _build_push(self, config: Config, reactor: Any) -> None:
        """Pushers, the notifications recorded after each event, and their delivery to push gateways."""
        self.read_positions = ReadPositions(self.events_store, self.receipts_store)
        email_notifs = config.email is not None and config.email.enable_notifs
        self.pusher_handler = PusherHandler(self.clock, self.pushers_store, self.events_store,
                                            config.ip_range_policy,
                                            email_owner=self.threepid_handler.owner_of if email_notifs else None)
        self.push_actions_handler = PushActionsHandler(config.server_name, self.clock, self.events_store,
                                                       self.push_rules_handler, self.pushers_store, self.cpu_pool,
                                                       self.account_data_store)
        self.event_persister.add_listener(self.push_actions_handler.on_event_persisted)
        self.upgrade_settings_handler = UpgradeSettingsHandler(config.server_name, self.events_store,
                                                               self.account_data_store, self.push_rules_handler,
                                                               self.notifier)
        self.event_persister.add_listener(self.upgrade_settings_handler.on_event_persisted)
        push_content = PushContent(self.events_store, self.pushers_store, self.read_positions,
                                   self.notification_counter)
        self.pusher_pool = PusherPool(
            PushSettings(config.push_enabled, config.push_include_content, config.push_give_up_after_ms),
            self.clock, self.pushers_store, self.events_store, self.read_positions, push_content,
            PushGatewayClient(self.outbound, config.ip_range_policy, config.push_gateway_timeout_ms / 1000,
                              config.push_tls))
        self.pusher_handler.set_listeners.append(self.pusher_pool.on_pusher_set)
        self.pushers_store.removed_listeners.append(self.pusher_pool.on_pushers_removed)
        self.push_actions_handler.recorded_listeners.append(self.pusher_pool.on_new_notifications)
        # E-mail notification digests (email.enable_notifs), one e-mail pusher per address.
        self.email_notifier = EmailNotifier(config, self.clock, self.pushers_store, self.events_store,
                                            self.read_positions, push_content, self.mailer,
                                            self.signing_key.encode())
        self.threepid_handler.bound_listeners.append(self.email_notifier.on_address_bound)
        self.threepid_handler.unbound_listeners.append(self.email_notifier.on_address_unbound)
        self.notification_list_handler = NotificationListHandler(self.pushers_store, self.events_store,
                                                                 self.read_positions, self.room_read_handler)

    def build_router(self, resources: Iterable[str] = ("client", "federation")) -> Router:
        """The servlets of the listener resources named: `client` (the client-server API, media,
        admin, well-known), `federation` (server-server API and keys), `keys` (keys only),
        `openid` (the OpenID userinfo endpoint only)."""
        names = set(resources)
        router = Router()
        if "federation" in names:
            for module in (federation_version, federation_events, federation_membership, federation_transactions,
                           federation_query, federation_e2e, federation_media):
                module.register_servlets(self, router)
        if names & {"federation", "keys"}:
            federation_keys.register_servlets(self, router)
        if names & {"client", "federation", "openid"}:
            # Third parties (integration managers, lk-jwt-service for Element Call) check OpenID
            # tokens here; they find the server as federation does (well-known, SRV, port 8448) but
            # sign nothing, so it is served whether or not federation is: on client listeners (a
            # server with federation off) as on federation ones.
            openid.register_userinfo_servlet(self, router)
        if "client" in names:
            matrix_rtc.register_servlets(self, router)  # MatrixRTC transports (issue 14)
        if "client" not in names:
            return router
        for module in (versions, register, login, account, devices, fallback, rooms, delayed_events, room_extras,
                       relations,
                       directory, sync, to_device, room_keys, dehydrated_devices, keys,
                       filters, profile, presence, receipts, push_rules, pushers, search, user_directory, well_known,
                       admin_users, admin_accounts, admin_rooms, admin_server, media, admin_media, admin_federation, spaces, openid, thirdparty, voip, old_sync, threepid, whois,
                       mutual_rooms):
            module.register_servlets(self, router)
        return router

    def build_site(self, x_forwarded: bool = False, resources: Iterable[str] = ("client", "federation")
                   ) -> MatrixSite:
        root: Resource = MatrixResource(self.build_router(resources), self.cpu_pool)
        if self.config.web_client_enabled and "client" in resources:
            root = RootResource(root, WebClientResource(self.config.web_client_path))
        root = HealthCheckRoot(root)
        site = MatrixSite(root, self.config.max_request_body_size, self.config.max_upload_size, x_forwarded)
        site.upload_spool_dir = self.media_repository.files.tmp_dir
        return site

    async def start(self) -> None:
        """Open the database, migrate it, load ID counters, start background jobs."""
        self.database.start()
        self.cpu_pool.start()
        await prepare_database(self.database)
        await self.tokens_store.load()
        await self.state_groups_store.load()
        await self.events_store.load()
        await self.account_data_store.load()
        await self.receipts_store.load()
        await self.to_device_store.load()
        await self.device_lists_store.load()
        await self.room_extras_store.load()
        await self.pushers_store.load()
        await self.federation_backoff.load()
        await self.federation_sender.catch_up()
        await self.user_directory_handler.start()
        await self.presence_handler.load()
        self.presence_handler.start()
        self.media_repository.start()
        await self.pusher_pool.start()
        await self.delayed_events_handler.start()
        if self.mailer is not None:
            self.mailer.start()  # sends what the outbox kept over a restart
        self.email_notifier.start()
        await self.room_admin_handler.start()
        self._looping_calls = [
            self.clock.looping_call(LAST_SEEN_FLUSH_INTERVAL_S, self._flush_last_seen),
            self.clock.looping_call(HOUSEKEEPING_INTERVAL_S, self._housekeeping),
            self.clock.looping_call(MEDIA_RETENTION_INTERVAL_S, self._media_retention),
        ]

    def _flush_last_seen(self) -> defer.Deferred:
        return defer.ensureDeferred(self._run_logged("flush last seen", self.devices_store.flush_last_seen))

    def _housekeeping(self) -> defer.Deferred:
        async def work() -> None:
            await self._run_logged("expire UIA sessions", self.uia_handler.expire_old_sessions)
            await self._run_logged("expire e-mail validation sessions", self.threepid_handler.expire_old_sessions)
            await self._run_logged("expire login tokens", lambda: self.tokens_store.delete_expired_login_tokens(
                self.clock.time_msec()))
            await self._run_logged("expire to-device transaction IDs", self.to_device_handler.expire_old_txns)
            await self._run_logged("expire OpenID tokens", self.openid_handler.delete_expired_tokens)
            await self._run_logged("expire delayed event transaction IDs", self.delayed_events_handler.expire_old_txns)
            await self._run_logged("expire old notifications", lambda: self.pushers_store.delete_notifications_before(
                self.clock.time_msec() - NOTIFICATION_RETENTION_MS))

        return defer.ensureDeferred(work())

    def _media_retention(self) -> defer.Deferred:
        return defer.ensureDeferred(self._run_logged("media retention", self.media_repository.apply_retention))

    async def _run_logged(self, what: str, fn: Any) -> None:
        try:
            await fn()
        except Exception:
            logger.exception("Background job failed: %s", what)

    async def stop(self) -> None:
        self.presence_handler.stop()
        self.email_notifier.stop()
        if self.mailer is not None:
            self.mailer.stop()
        await self._run_logged("stop delayed events", self.delayed_events_handler.stop)
        await self._run_logged("finish room deletions", self.room_admin_handler.drain)
        await self._run_logged("finish push rule evaluation", self.push_actions_handler.drain)
        await self._run_logged("finish removing guests", self.guest_access_handler.drain)
        await self._run_logged("finish copying settings to upgraded rooms", self.upgrade_settings_handler.drain)
        await self._run_logged("stop pushers", self.pusher_pool.stop)
        await self._run_logged("close outgoing connections", self.outbound.close)
        await self._run_logged("flush presence", self.presence_handler.flush)
        for call in self._looping_calls:
            if call.running:
                call.stop()
        await self._run_logged("flush last seen", self.devices_store.flush_last_seen)
        await self._run_logged("record federation backoff", self.federation_backoff.flushed)
        self.cpu_pool.stop()
        self.database.stop()
