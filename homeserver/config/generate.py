"""`homeserver generate-config`: a working homeserver.yaml with fresh secrets, data beside it."""

from __future__ import annotations

import os
import secrets

import yaml
from signedjson.key import generate_signing_key, write_signing_keys

from homeserver.api.identifiers import random_string

TEMPLATE = """\
# homeserver.yaml for {server_name}, written by `homeserver generate-config`.
# Every option, with its default and meaning, is in homeserver.yaml.example and docs/config.md.

# The domain in your users' IDs (@alice:{server_name}). It cannot change later.
server_name: {server_name_yaml}

# Where clients reach this server, as they see it (behind a reverse proxy, the proxy's URL).
{public_baseurl_line}

listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    x_forwarded: false
    resources:
      - names: [client]

# SQLite by default; for PostgreSQL use name: psycopg2 with user/password/database/host args.
database:
  name: sqlite3
  args:
    database: {data_dir}/homeserver.db

signing_key_path: {data_dir}/{server_name}.signing.key
media_store_path: {data_dir}/media_store

# Anyone who knows this secret can create accounts, admins included (`homeserver register-user`).
registration_shared_secret: {shared_secret_yaml}

# Open registration is off: create accounts with `homeserver register-user`, or turn on
# enable_registration with registration_requires_token (tokens from the admin API).
enable_registration: false
"""


def _public_baseurl_line(server_name: str, port: int) -> str:
    """A server name with its own port says where the server is reached: public_baseurl is left
    to its default, https://<server_name>/ (appending the listener's port too would make
    `host:8448:8008`). A bare host is taken as a local install reached on the listener."""
    if server_name.endswith("]") or ":" not in server_name:
        return "public_baseurl: " + yaml.safe_dump(f"http://{server_name}:{port}/").split("\n")[0]
    return f"# public_baseurl: https://{server_name}/  (the default)"


def generate_config(server_name: str, config_path: str, data_dir: str | None = None, port: int = 8008) -> str:
    """Write a new config (refusing to overwrite one) and a signing key; returns the config text."""
    if os.path.exists(config_path):
        raise FileExistsError(f"{config_path} already exists; not overwriting it")
    config_dir = os.path.dirname(os.path.abspath(config_path))
    data_dir = data_dir or config_dir
    os.makedirs(config_dir, exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)
    rel_data = os.path.relpath(data_dir, config_dir)

    key_path = os.path.join(data_dir, f"{server_name}.signing.key")
    if not os.path.exists(key_path):
        key = generate_signing_key("a_" + random_string(4))
        with open(key_path, "w") as f:
            write_signing_keys(f, [key])
        os.chmod(key_path, 0o600)

    text = TEMPLATE.format(
        server_name=server_name,
        server_name_yaml=yaml.safe_dump(server_name).split("\n")[0],
        public_baseurl_line=_public_baseurl_line(server_name, port),
        port=port,
        data_dir=rel_data,
        shared_secret_yaml=yaml.safe_dump(secrets.token_urlsafe(32)).split("\n")[0],
    )
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds a secret
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return text
