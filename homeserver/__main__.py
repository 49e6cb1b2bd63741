"""The `homeserver` command: run, generate-config, register-user."""

from __future__ import annotations

import argparse
import errno
import getpass
import hashlib
import hmac
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from homeserver import __version__
from homeserver.config import ConfigError, load_config

logger = logging.getLogger("homeserver")


def cmd_run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1

    from twisted.internet import defer, reactor
    from twisted.internet.error import CannotListenError
    from twisted.web.server import Site

    from homeserver import metrics
    from homeserver.logging_setup import LogConfigError, setup_logging
    from homeserver.server import HomeServer

    try:
        setup_logging(config.log_config)
    except LogConfigError as e:
        print(e, file=sys.stderr)
        return 1
    for warning in config.warnings:
        logger.warning("%s", warning)
    try:
        hs = HomeServer(config, reactor)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    exit_code = [0]

    async def start() -> None:
        try:
            await hs.start()
            for listener in config.listeners:
                if listener["type"] == "manhole":
                    logger.warning("Listener on port %d: type manhole (Synapse's debugging shell) is not "
                                   "served by this server", listener["port"])
                    continue
                for address in listener["bind_addresses"]:
                    if listener["type"] == "metrics":
                        if not config.enable_metrics:
                            logger.warning("A metrics listener is configured but enable_metrics is false")
                            continue
                        from prometheus_client.twisted import MetricsResource

                        site = Site(MetricsResource())
                    else:
                        names = [name for resource in listener["resources"] for name in resource.get("names", [])]
                        site = hs.build_site(listener["x_forwarded"], names)
                    try:
                        if listener["tls"]:
                            reactor.listenSSL(listener["port"], site, tls_context(config), interface=address)
                        else:
                            reactor.listenTCP(listener["port"], site, interface=address)
                    except CannotListenError as e:
                        # Synapse's generated config binds ['::1', '127.0.0.1']: on a host without
                        # IPv6 the IPv6 address is skipped (as Synapse does), the others still serve.
                        no_ipv6 = getattr(e.socketError, "errno", None) in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)
                        if ":" in address and no_ipv6 and len(listener["bind_addresses"]) > 1:
                            logger.warning("Not listening on %s:%d: %s", address, listener["port"], e.socketError)
                            continue
                        raise
                    logger.info("Listening on %s:%d (%s)", address, listener["port"], listener["type"])
            if config.enable_metrics:
                metrics.instrument_reactor(reactor)
                metrics.build_info.labels(__version__).set(1)
            if config.pid_file:
                with open(config.pid_file, "w") as f:
                    f.write(f"{os.getpid()}\n")
            logger.info("Server %s is ready", config.server_name)
        except Exception as e:
            logger.error("Start-up failed: %s", e, exc_info=not isinstance(e, ConfigError))
            exit_code[0] = 1
            reactor.stop()

    reactor.addSystemEventTrigger("before", "shutdown", lambda: defer.ensureDeferred(hs.stop()))
    reactor.callWhenRunning(lambda: defer.ensureDeferred(start()))
    reactor.run()
    return exit_code[0]


def tls_context(config: Any) -> Any:
    """The TLS server context of `tls: true` listeners, from the configured PEM files (the
    certificate file may carry its chain after it)."""
    import re

    from OpenSSL import crypto
    from twisted.internet import ssl

    try:
        with open(config.tls_certificate_path, "rb") as f:
            blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", f.read(), re.S)
        with open(config.tls_private_key_path, "rb") as f:
            key = crypto.load_privatekey(crypto.FILETYPE_PEM, f.read())
        certs = [crypto.load_certificate(crypto.FILETYPE_PEM, block) for block in blocks]
        if not certs:
            raise ValueError(f"no certificate in {config.tls_certificate_path}")
    except (OSError, ValueError, crypto.Error) as e:
        raise ConfigError(f"Config error at tls_certificate_path/tls_private_key_path: {e}") from None
    return ssl.CertificateOptions(privateKey=key, certificate=certs[0], extraCertChain=certs[1:])


def cmd_generate_config(args: argparse.Namespace) -> int:
    from homeserver.config.generate import generate_config

    try:
        generate_config(args.server_name, args.config_path, args.data_dir, args.port)
    except FileExistsError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"Wrote {args.config_path}")
    return 0


def _post_json(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            err = json.load(e)
        except ValueError:
            err = {"error": e.reason}
        raise SystemExit(f"Error {e.code}: {err.get('errcode', '')} {err.get('error', '')}".strip()) from None
    except urllib.error.URLError as e:
        raise SystemExit(f"Cannot reach {url}: {e.reason}") from None


def cmd_register_user(args: argparse.Namespace) -> int:
    secret = args.shared_secret
    url = args.server_url
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as e:
            print(e, file=sys.stderr)
            return 1
        secret = secret or config.registration_shared_secret
        if url is None:
            http = next((li for li in config.listeners if li["type"] == "http"), None)
            if http:
                host = http["bind_addresses"][0] if http["bind_addresses"] else "localhost"
                host = "localhost" if host in ("0.0.0.0", "::") else host
                url = f"http://{'[' + host + ']' if ':' in host else host}:{http['port']}"
    url = (url or "http://localhost:8008").rstrip("/")
    if not secret:
        print("No registration_shared_secret: give -c homeserver.yaml or -k SECRET", file=sys.stderr)
        return 1
    user = args.user or input("New user localpart: ").strip()
    password = args.password
    if password is None:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Confirm password: "):
            print("Passwords do not match", file=sys.stderr)
            return 1
    admin = args.admin
    if admin is None:
        admin = input("Make admin [no]: ").strip().lower() in ("y", "yes", "true")

    nonce = _post_json(f"{url}/_synapse/admin/v1/register")["nonce"]
    mac = hmac.new(secret.encode(), b"\x00".join(
        [nonce.encode(), user.encode(), password.encode(), b"admin" if admin else b"notadmin"]
    ), hashlib.sha1).hexdigest()
    result = _post_json(f"{url}/_synapse/admin/v1/register",
                        {"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac})
    print(f"Registered {result['user_id']}{' (admin)' if admin else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="homeserver", description="A Matrix homeserver")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the server")
    p.add_argument("-c", "--config", required=True, help="path to homeserver.yaml")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("generate-config", help="write a new homeserver.yaml with fresh keys and secrets")
    p.add_argument("--server-name", required=True, help="the domain of your user IDs, e.g. example.com")
    p.add_argument("--config-path", required=True, help="where to write homeserver.yaml")
    p.add_argument("--data-dir", help="where the database, signing key and media go (default: beside the config)")
    p.add_argument("--port", type=int, default=8008, help="HTTP port (default 8008)")
    p.set_defaults(func=cmd_generate_config)

    p = sub.add_parser("register-user", help="create a user on a running server (shared-secret registration)")
    p.add_argument("-c", "--config", help="homeserver.yaml, for the shared secret and the server's address")
    p.add_argument("-k", "--shared-secret", help="the registration shared secret (instead of -c)")
    p.add_argument("-u", "--user", help="localpart of the new user")
    p.add_argument("-p", "--password", help="password (asked for if omitted)")
    admin = p.add_mutually_exclusive_group()
    admin.add_argument("-a", "--admin", action="store_true", default=None, help="make the user a server admin")
    admin.add_argument("--no-admin", dest="admin", action="store_false", help="make a normal user")
    p.add_argument("server_url", nargs="?", help="the server's URL (default: from the config, or localhost:8008)")
    p.set_defaults(func=cmd_register_user)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
