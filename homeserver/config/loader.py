"""Load homeserver.yaml: parse, fill in the schema's defaults, validate, and derive typed values."""

from __future__ import annotations

import copy
import difflib
import logging
import os
import re
import secrets
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from homeserver.api.errors import MatrixError
from homeserver.api.identifiers import check_new_localpart
from homeserver.config.email import EmailConfigError, EmailSettings
from homeserver.config.synapse_keys import SYNAPSE_NESTED_KEYS, SYNAPSE_TOP_LEVEL_KEYS
from homeserver.federation.tls import FederationTls
from homeserver.outbound.ranges import InvalidRange, IpRangePolicy
from homeserver.outbound.tls import TlsConfigError, TlsSettings

logger = logging.getLogger(__name__)

# Where `npm run build` in clients/web puts the bundled client, in a source checkout.
DEFAULT_WEB_CLIENT_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "web", "dist")
# An install that keeps the built client elsewhere (the Docker image) names it in this variable;
# `web_client.path` in the config still wins.
WEB_CLIENT_PATH_ENV = "HOMESERVER_WEB_CLIENT_PATH"


class ConfigError(Exception):
    """The configuration is wrong; the message names the key and says why."""


@cache
def config_schema() -> dict[str, Any]:
    text = resources.files("homeserver.config").joinpath("schema.yaml").read_text()
    return yaml.safe_load(text)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        merged = dict(schema["$defs"][ref[len("#/$defs/") :]])
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        return merged
    return node


def apply_defaults(schema: dict[str, Any], node: dict[str, Any], value: Any) -> Any:
    """Fill missing object keys from the schema's `default`s, recursively."""
    node = _resolve(schema, node)
    if isinstance(value, dict) and "properties" in node:
        for key, sub in node["properties"].items():
            sub_resolved = _resolve(schema, sub)
            if key not in value and "default" in sub_resolved:
                value[key] = copy.deepcopy(sub_resolved["default"])
            if key in value:
                value[key] = apply_defaults(schema, sub_resolved, value[key])
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        value = [apply_defaults(schema, node["items"], item) for item in value]
    return value


def _error_path(error: jsonschema.ValidationError) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else ("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _leaf_errors(error: jsonschema.ValidationError):
    if not error.context:
        yield error
    for sub in error.context or ():
        yield from _leaf_errors(sub)


def _did_you_mean(key: str, candidates: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(candidates), n=1, cutoff=0.75)
    return f"{key} (did you mean {close[0]}?)" if close else key


def _plain_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - known)
        if not error.absolute_path:  # top level: Synapse's option names are good guesses too
            known |= SYNAPSE_TOP_LEVEL_KEYS
        return f"unknown option(s): {', '.join(_did_you_mean(k, known) for k in extra)}"
    if error.validator == "oneOf" and error.context:
        # Prefer a reason other than "wrong type" among the (nested) alternatives.
        leaves = list(_leaf_errors(error))
        specific = [e for e in leaves if e.validator != "type"]
        return (specific or leaves)[0].message
    return error.message


def _strip_section(node: dict[str, Any], value: Any, known: frozenset[str] | str, path: str,
                   ignored: list[str]) -> None:
    if not isinstance(value, dict):
        return
    ours = set(_resolve(config_schema(), node).get("properties", {}))
    for key in [k for k in value if k not in ours and (known == "*" or k in known)]:
        del value[key]
        ignored.append(f"{path}.{key}")


def strip_synapse_only_options(raw: dict[str, Any]) -> list[str]:
    """Remove (in place) the options Synapse knows and we do not implement; returns their names,
    sorted. Options in our schema are left to it, so are options nobody knows (the schema refuses
    them with a suggestion)."""
    props = config_schema()["properties"]
    ignored: list[str] = []
    for key in list(raw):
        if key not in props:
            if key in SYNAPSE_TOP_LEVEL_KEYS:
                del raw[key]
                ignored.append(key)
            continue
        if props[key].get("x-ignored"):
            ignored.append(key)
        if key in SYNAPSE_NESTED_KEYS:
            _strip_section(props[key], raw[key], SYNAPSE_NESTED_KEYS[key], key, ignored)
        if f"{key}[]" in SYNAPSE_NESTED_KEYS and isinstance(raw[key], list):
            items = _resolve(config_schema(), props[key]).get("items", {})
            for i, item in enumerate(raw[key]):
                _strip_section(items, item, SYNAPSE_NESTED_KEYS[f"{key}[]"], f"{key}[{i}]", ignored)
    return sorted(ignored)


def validate_config(raw: dict[str, Any]) -> None:
    schema = config_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        raise ConfigError(f"Config error at {_error_path(first)}: {_plain_message(first)}")


_DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                   "w": 7 * 86_400_000, "y": 365 * 86_400_000}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def duration_ms(value: int | str | None) -> int | None:
    """`5m` -> 300000; an integer is already milliseconds."""
    if value is None or isinstance(value, int):
        return value
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h|d|w|y)?", value)
    if not m:
        raise ConfigError(f"Not a duration: {value!r}")
    return int(m.group(1)) * _DURATION_UNITS[m.group(2) or "ms"]


def size_bytes(value: int | str) -> int:
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"([0-9]+)([KMGkmg]?)", value)
    if not m:
        raise ConfigError(f"Not a size: {value!r}")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


def _read_or_create_secret(path: str, key: str) -> str:
    """The secret in `path`; a missing file is created with a new random secret (as Synapse does)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise ConfigError(f"Config error at {key}: cannot read {path}: {e.strerror}") from None
    secret = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
    except OSError as e:
        raise ConfigError(f"Config error at {key}: cannot create {path}: {e.strerror}") from None
    return secret


def _complete_rate_limits(raw: dict[str, Any]) -> None:
    """`rc_x: {per_second: 1}` keeps the default burst_count (and the other way round), as in Synapse."""
    schema = config_schema()

    def complete(node: dict[str, Any], value: Any) -> None:
        if not isinstance(value, dict):
            return
        if node.get("$ref") == "#/$defs/ratelimit" or any(
                alt.get("$ref") == "#/$defs/ratelimit" for alt in node.get("oneOf", [])):
            for field, default in (node.get("default") or {}).items():
                value.setdefault(field, default)
            return
        for key, sub in node.get("properties", {}).items():
            complete(sub, value.get(key))

    for key, node in schema["properties"].items():
        if key.startswith("rc_"):
            complete(node, raw.get(key))


class Config:
    """The validated configuration. `raw` is the whole dict with defaults; the attributes
    are the derived values code uses (durations in ms, paths made absolute)."""

    def __init__(self, raw: dict[str, Any], config_dir: str):
        raw = copy.deepcopy(raw)
        # Synapse's options that we do not implement: accepted, and named in one warning.
        self.ignored_synapse_options: list[str] = strip_synapse_only_options(raw)
        raw = apply_defaults(config_schema(), config_schema(), raw)
        validate_config(raw)
        _complete_rate_limits(raw)
        self.raw = raw
        self.config_dir = config_dir
        # Logged by `homeserver run` once logging is set up.
        self.warnings: list[str] = []
        if self.ignored_synapse_options:
            self.warnings.append(
                "These options are Synapse's and have no effect on this server (see "
                f"docs/synapse_migration.md): {', '.join(self.ignored_synapse_options)}")

        self.server_name: str = raw["server_name"]
        base = raw["public_baseurl"] or f"https://{self.server_name}/"
        self.public_baseurl: str = base if base.endswith("/") else base + "/"
        self.listeners: list[dict[str, Any]] = raw["listeners"]
        self.tls_certificate_path = self.path(raw["tls_certificate_path"]) if raw["tls_certificate_path"] else None
        self.tls_private_key_path = self.path(raw["tls_private_key_path"]) if raw["tls_private_key_path"] else None
        for i, listener in enumerate(self.listeners):
            if listener["tls"] and not (self.tls_certificate_path and self.tls_private_key_path):
                raise ConfigError(f"Config error at listeners[{i}].tls: needs tls_certificate_path and "
                                  "tls_private_key_path")

        self.database_name: str = raw["database"]["name"]
        self.database_args: dict[str, Any] = dict(raw["database"]["args"])
        if self.database_name == "sqlite3":
            db = self.database_args.get("database", "homeserver.db")
            if db != ":memory:":
                db = self.path(db)
            self.database_args["database"] = db

        self.signing_key_path = self.path(raw["signing_key_path"] or f"{self.server_name}.signing.key")
        self.key_refresh_interval_ms: int = duration_ms(raw["key_refresh_interval"])
        if self.key_refresh_interval_ms < 60_000:
            raise ConfigError("Config error at key_refresh_interval: must be at least a minute")
        self.old_signing_keys: dict[str, dict[str, Any]] = raw["old_signing_keys"]
        self.trusted_key_servers: list[dict[str, Any]] = raw["trusted_key_servers"]
        whitelist = raw["federation_domain_whitelist"]
        self.federation_domain_whitelist: frozenset[str] | None = None if whitelist is None else frozenset(whitelist)
        self.allow_public_rooms_over_federation: bool = raw["allow_public_rooms_over_federation"]
        self.allow_profile_lookup_over_federation: bool = raw["allow_profile_lookup_over_federation"]
        self.log_config = self.path(raw["log_config"]) if raw["log_config"] else None
        self.pid_file = self.path(raw["pid_file"]) if raw["pid_file"] else None

        self.enable_registration: bool = raw["enable_registration"]
        self.registration_requires_token: bool = raw["registration_requires_token"]
        self.enable_registration_without_verification: bool = raw["enable_registration_without_verification"]
        self.email: EmailSettings | None = None
        if raw["email"] is not None:
            try:
                self.email = EmailSettings.from_raw(raw["email"], self.public_baseurl, duration_ms, self.path)
            except EmailConfigError as e:
                raise ConfigError(f"Config error at {e}") from None
        self.registrations_require_3pid: list[str] = raw["registrations_require_3pid"]
        if self.registrations_require_3pid and self.email is None:
            raise ConfigError("Config error at registrations_require_3pid: email addresses can only be required "
                              "with an email section (the server must be able to send the validation mail)")
        self.allowed_local_3pids: list[dict[str, Any]] | None = raw["allowed_local_3pids"]
        for i, entry in enumerate(self.allowed_local_3pids or []):
            try:
                re.compile(entry["pattern"])
            except re.error as e:
                raise ConfigError(f"Config error at allowed_local_3pids[{i}].pattern: not a regular expression: "
                                  f"{e}") from None
        if (self.enable_registration and not self.registration_requires_token
                and not self.registrations_require_3pid and not self.enable_registration_without_verification):
            raise ConfigError(
                "Config error at enable_registration: open registration with no verification lets "
                "anyone create accounts. Set registration_requires_token: true, registrations_require_3pid: "
                "[email] (with an email section), or enable_registration_without_verification: true if you "
                "really want that."
            )
        self.allow_guest_access: bool = raw["allow_guest_access"]
        self.inhibit_user_in_use_error: bool = raw["inhibit_user_in_use_error"]
        secret = raw["registration_shared_secret"]
        if secret is None and raw["registration_shared_secret_path"]:
            path = self.path(raw["registration_shared_secret_path"])
            existed = os.path.exists(path)
            secret = _read_or_create_secret(path, "registration_shared_secret_path")
            if not existed:
                self.warnings.append(f"Wrote a new registration shared secret to {path}")
        self.registration_shared_secret: str | None = secret

        pw = raw["password_config"]
        self.password_enabled: bool = pw["enabled"]
        self.password_policy: dict[str, Any] = pw["policy"]
        self.argon2_opslimit: int = pw["argon2_opslimit"]
        self.argon2_memlimit: int = pw["argon2_memlimit"]

        self.refreshable_access_token_lifetime_ms = duration_ms(raw["refreshable_access_token_lifetime"])
        self.refresh_token_lifetime_ms = duration_ms(raw["refresh_token_lifetime"])
        self.nonrefreshable_access_token_lifetime_ms = duration_ms(raw["nonrefreshable_access_token_lifetime"])
        les = raw["login_via_existing_session"]
        self.login_via_existing_session_enabled: bool = les["enabled"]
        self.login_via_existing_session_require_ui_auth: bool = les["require_ui_auth"]
        self.login_via_existing_session_token_timeout_ms = duration_ms(les["token_timeout"])
        self.login_token_lifetime_ms = duration_ms(raw["login_token_lifetime"])

        self.rc_message = raw["rc_message"]
        self.rc_registration = raw["rc_registration"]
        self.rc_3pid_validation = raw["rc_3pid_validation"]
        self.rc_registration_token_validity = raw["rc_registration_token_validity"]
        self.rc_login_address = raw["rc_login"]["address"]
        self.rc_login_account = raw["rc_login"]["account"]
        self.rc_login_failed_attempts = raw["rc_login"]["failed_attempts"]
        self.rc_delayed_event_mgmt = raw["rc_delayed_event_mgmt"]
        self.rc_joins_local = raw["rc_joins"]["local"]
        self.rc_joins_remote = raw["rc_joins"]["remote"]
        self.rc_joins_per_room = raw["rc_joins_per_room"]
        self.rc_invites_per_room = raw["rc_invites"]["per_room"]
        self.rc_invites_per_user = raw["rc_invites"]["per_user"]
        self.rc_invites_per_issuer = raw["rc_invites"]["per_issuer"]
        self.rc_room_creation = raw["rc_room_creation"]
        self.rc_presence_per_user = raw["rc_presence"]["per_user"]
        self.rc_key_requests = raw["rc_key_requests"]
        self.rc_media_create = raw["rc_media_create"]
        # None: redactions of others' events count against rc_message (Synapse's behaviour).
        self.rc_admin_redaction: dict[str, float] | None = raw["rc_admin_redaction"]
        if self.rc_admin_redaction is not None:
            self.rc_admin_redaction = {**self.rc_message, **self.rc_admin_redaction}
        self.max_event_delay_ms: int | None = duration_ms(raw["max_event_delay_duration"])
        self.max_delayed_events_per_user: int = raw["experimental_features"]["msc4140_max_delayed_events_per_user"]

        self.max_upload_size = size_bytes(raw["max_upload_size"])
        self.max_request_body_size = size_bytes(raw["max_request_body_size"])
        self.max_to_device_message_size = size_bytes(raw["max_to_device_message_size"])
        self.max_long_polls_per_user: int = raw["max_long_polls_per_user"]
        self.event_cache_size = size_bytes(raw["event_cache_size"])
        self.cache_global_factor: float = float(raw["caches"]["global_factor"])
        self.cache_factors: dict[str, float] = {k: float(v) for k, v in raw["caches"]["per_cache_factors"].items()}
        self.media_store_path = self.path(raw["media_store_path"])
        self.default_room_version: str = raw["default_room_version"]
        self.serve_server_wellknown: bool = raw["serve_server_wellknown"]
        self.extra_well_known_client_content: dict[str, Any] = raw["extra_well_known_client_content"]
        # The body of /.well-known/matrix/support, or None (404) when nothing is configured.
        support = raw["server_support"]
        self.server_support: dict[str, Any] | None = {
            k: v for k, v in (("contacts", support["contacts"]), ("support_page", support["support_page"])) if v
        } or None
        self.enable_metrics: bool = raw["enable_metrics"]
        self.presence_enabled: bool = raw["presence"]["enabled"]
        self.turn_uris: list[str] = raw["turn_uris"]
        self.turn_shared_secret: str | None = raw["turn_shared_secret"]
        self.turn_username: str | None = raw["turn_username"]
        self.turn_password: str | None = raw["turn_password"]
        self.turn_user_lifetime_ms: int = duration_ms(raw["turn_user_lifetime"])
        if self.turn_user_lifetime_ms < 1000:
            raise ConfigError("Config error at turn_user_lifetime: must be at least one second")
        self.turn_allow_guests: bool = raw["turn_allow_guests"]
        # Passed to clients as written (the schema checked each has a string `type`).
        self.matrix_rtc_transports: list[dict[str, Any]] = raw["matrix_rtc"]["transports"]
        self.user_directory_enabled: bool = raw["user_directory"]["enabled"]
        self.user_directory_search_all_users: bool = raw["user_directory"]["search_all_users"]
        self.require_auth_for_profile_requests: bool = raw["require_auth_for_profile_requests"]
        # The server_notices section as written (with its defaults), or None when notices are off.
        self.server_notices: dict[str, Any] | None = raw["server_notices"]
        if self.server_notices is not None:
            try:
                check_new_localpart(self.server_notices["system_mxid_localpart"], self.server_name)
            except MatrixError as e:
                raise ConfigError(f"Config error at server_notices.system_mxid_localpart: {e.msg}") from None
        self.limit_profile_requests_to_users_who_share_rooms: bool = \
            raw["limit_profile_requests_to_users_who_share_rooms"]
        push = raw["push"]
        self.push_enabled: bool = push["enabled"]
        self.push_include_content: bool = push["include_content"]
        self.push_gateway_timeout_ms: int = duration_ms(push["gateway_timeout"])
        self.push_give_up_after_ms: int = duration_ms(push["give_up_after"])
        if self.push_gateway_timeout_ms < 1:
            raise ConfigError("Config error at push.gateway_timeout: must be more than zero")
        try:
            self.ip_range_policy = IpRangePolicy.from_strings(raw["ip_range_blacklist"], raw["ip_range_whitelist"])
        except InvalidRange as e:
            raise ConfigError(f"Config error at {e}") from None
        fed_blacklist = raw["federation_ip_range_blacklist"]
        try:
            self.federation_ip_range_policy = IpRangePolicy.from_strings(
                raw["ip_range_blacklist"] if fed_blacklist is None else fed_blacklist, raw["ip_range_whitelist"],
                blacklist_key="ip_range_blacklist" if fed_blacklist is None else "federation_ip_range_blacklist")
        except InvalidRange as e:
            raise ConfigError(f"Config error at {e}") from None
        self.federation_verify_certificates: bool = raw["federation_verify_certificates"]
        self.federation_certificate_verification_whitelist: list[str] = \
            raw["federation_certificate_verification_whitelist"]
        self.federation_custom_ca_list: list[str] = [self.path(p) for p in raw["federation_custom_ca_list"] or []]
        try:
            self.federation_tls = FederationTls.from_config(self.federation_verify_certificates,
                                                            self.federation_certificate_verification_whitelist,
                                                            self.federation_custom_ca_list)
        except TlsConfigError as e:
            raise ConfigError(f"Config error at federation_custom_ca_list: {e}") from None
        self.push_extra_ca_certificates: list[str] = [self.path(p) for p in push["extra_ca_certificates"]]
        try:
            self.push_tls = TlsSettings.with_extra_ca_files(self.push_extra_ca_certificates)
        except TlsConfigError as e:
            raise ConfigError(f"Config error at push.extra_ca_certificates: {e}") from None
        self.web_client_enabled: bool = raw["web_client"]["enabled"]
        self.web_client_path = self.path(raw["web_client"]["path"] or os.environ.get(WEB_CLIENT_PATH_ENV)
                                         or DEFAULT_WEB_CLIENT_PATH)

    def path(self, p: str) -> str:
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(self.config_dir, p))


def load_config(path: str) -> Config:
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"Cannot read config file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"Config file {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must be a YAML mapping of options")
    return Config(raw, os.path.dirname(os.path.abspath(path)))
