"""The Docker image's entrypoint: generates homeserver.yaml on first start, then runs the server.

    start.py run            run the server (writes the config first when there is none)
    start.py generate       only write the config (refuses to overwrite one), then exit
    start.py healthcheck    exit 0 when the server answers GET /health with 200 (HEALTHCHECK)
    start.py <anything>     passed to the `homeserver` command (e.g. `register-user -c ...`)

The config is $HOMESERVER_CONFIG_PATH (default /data/homeserver.yaml). When it exists (mounted,
or written at an earlier start) it is used as it is and the environment below is ignored. When it
does not, `homeserver generate-config` writes one (fresh signing key and secrets, data in
$HOMESERVER_DATA_DIR) and this script adapts it to a container from the environment:

    SERVER_NAME                 required: the domain in user IDs (it can never change)
    PUBLIC_BASEURL              where clients reach the server (default https://SERVER_NAME/)
    POSTGRES_HOST               use PostgreSQL at this host (else SQLite in the data directory)
    POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB
                                (defaults 5432, homeserver, no password, homeserver)
    TURN_URIS                   comma-separated turn:/turns: URIs handed to clients
    TURN_SHARED_SECRET          coturn's static-auth-secret (use-auth-secret)
    REGISTRATION_SHARED_SECRET  the shared secret of `homeserver register-user` (default: random)
    ENABLE_REGISTRATION         "true" opens sign-up on the web client, with a registration token
                                (`registration_requires_token`; tokens from the admin API)
    HTTP_PORT                   the port the server listens on in the container (default 8008)
    X_FORWARDED                 "true" when only a reverse proxy reaches the port: client addresses
                                are read from X-Forwarded-For (default false)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

CONFIG_PATH = os.environ.get("HOMESERVER_CONFIG_PATH", "/data/homeserver.yaml")
DATA_DIR = os.environ.get("HOMESERVER_DATA_DIR", "/data")


class StartError(Exception):
    pass


def _env(env: dict[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name, "").strip()
    return value or default


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _yaml_scalar(value: object) -> str:
    import yaml  # here, not at the top: the health check runs every few seconds and needs none of it

    return yaml.safe_dump(value, default_flow_style=True, width=1 << 16).split("\n")[0]


def _replace_once(text: str, pattern: str, replacement: str, what: str) -> str:
    new, count = re.subn(pattern, lambda _m: replacement, text, count=1, flags=re.M | re.S)
    if count != 1:
        raise StartError(f"cannot set {what}: the generated config does not have the expected shape")
    return new


def adapt_config(text: str, env: dict[str, str]) -> str:
    """The config `homeserver generate-config` wrote, changed for a container from `env`: the
    listener on all interfaces, the database, public_baseurl, TURN and registration settings."""
    port = int(_env(env, "HTTP_PORT", "8008"))
    forwarded = "true" if _true(_env(env, "X_FORWARDED")) else "false"
    text = _replace_once(text, r"^  - port: \d+\n    bind_addresses: \['127\.0\.0\.1'\]\n    type: http\n"
                         r"    x_forwarded: false\n",
                         f"  - port: {port}\n    bind_addresses: ['0.0.0.0']\n    type: http\n"
                         f"    x_forwarded: {forwarded}\n", "the listener")
    baseurl = _env(env, "PUBLIC_BASEURL")
    if baseurl:
        text = _replace_once(text, r"^#? ?public_baseurl: .*?$", "public_baseurl: " + _yaml_scalar(baseurl),
                             "public_baseurl")
    else:
        # Inside a container the listener's address is not where clients come from: leave
        # public_baseurl to its default, https://<server_name>/ (the reverse proxy's address).
        text = _replace_once(text, r"^public_baseurl: .*?$",
                             "# public_baseurl: https://<server_name>/  (the default; set PUBLIC_BASEURL)",
                             "public_baseurl")
    host = _env(env, "POSTGRES_HOST")
    if host:
        args = {
            "user": _env(env, "POSTGRES_USER", "homeserver"),
            "password": _env(env, "POSTGRES_PASSWORD", ""),
            "database": _env(env, "POSTGRES_DB", "homeserver"),
            "host": host,
            "port": int(_env(env, "POSTGRES_PORT", "5432")),
            "cp_min": 5,
            "cp_max": 10,
        }
        block = "database:\n  name: psycopg2\n  args:\n" + "".join(
            f"    {k}: {_yaml_scalar(v)}\n" for k, v in args.items())
        text = _replace_once(text, r"^database:\n  name: sqlite3\n  args:\n    database: [^\n]*\n", block,
                             "the database")
    secret = _env(env, "REGISTRATION_SHARED_SECRET")
    if secret:
        text = _replace_once(text, r"^registration_shared_secret: .*?$",
                             "registration_shared_secret: " + _yaml_scalar(secret), "registration_shared_secret")
    extra = []
    turn_uris = [u.strip() for u in (_env(env, "TURN_URIS", "") or "").split(",") if u.strip()]
    if turn_uris:
        extra.append("turn_uris:\n" + "".join(f"  - {_yaml_scalar(u)}\n" for u in turn_uris))
        turn_secret = _env(env, "TURN_SHARED_SECRET")
        if turn_secret:
            extra.append(f"turn_shared_secret: {_yaml_scalar(turn_secret)}\n")
        extra.append("turn_user_lifetime: 1d\n")
    if _true(_env(env, "ENABLE_REGISTRATION")):
        text = _replace_once(text, r"^enable_registration: false$",
                             "enable_registration: true\nregistration_requires_token: true", "enable_registration")
    if extra:
        text += "\n# TURN (coturn with use-auth-secret and the same secret), from the environment at first start.\n"
        text += "".join(extra)
    return text


def generate(env: dict[str, str]) -> None:
    server_name = _env(env, "SERVER_NAME")
    if not server_name:
        raise StartError(f"{CONFIG_PATH} does not exist: set SERVER_NAME (e.g. example.com) to generate it, "
                         "or mount your own homeserver.yaml there")
    port = _env(env, "HTTP_PORT", "8008")
    code = subprocess.call(["homeserver", "generate-config", "--server-name", server_name,
                            "--config-path", CONFIG_PATH, "--data-dir", DATA_DIR, "--port", port])
    if code:
        raise StartError("homeserver generate-config failed")
    with open(CONFIG_PATH) as f:
        text = f.read()
    text = adapt_config(text, env)
    tmp = CONFIG_PATH + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, CONFIG_PATH)
    print(f"Generated {CONFIG_PATH} for {server_name} (edit it and restart to change settings; "
          "the environment is only read when it is generated)", flush=True)


def healthcheck(env: dict[str, str]) -> int:
    port = _env(env, "HTTP_PORT", "8008")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as resp:
            return 0 if resp.status == 200 else 1
    except OSError:
        return 1


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    command = argv[0] if argv else "run"
    try:
        if command == "healthcheck":
            return healthcheck(env)
        if command == "generate":
            if os.path.exists(CONFIG_PATH):
                print(f"{CONFIG_PATH} already exists; not overwriting it", file=sys.stderr)
                return 1
            generate(env)
            return 0
        if command == "run":
            if not os.path.exists(CONFIG_PATH):
                generate(env)
            os.execvp("homeserver", ["homeserver", "run", "-c", CONFIG_PATH, *argv[1:]])
    except StartError as e:
        print(f"start.py: {e}", file=sys.stderr)
        return 1
    os.execvp("homeserver", ["homeserver", *argv])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
