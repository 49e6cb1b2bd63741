"""The config schema: defaults, plain errors with the key's path, and the example/docs that come from it."""

import os
import re
import tempfile

import yaml
from twisted.trial import unittest

from homeserver.config import Config, ConfigError, load_config
from homeserver.config import docs as config_docs
from homeserver.config.generate import generate_config
from homeserver.config.loader import duration_ms, size_bytes
from homeserver.handlers.media.config import MediaConfig
from tests.outbound.certs import make_ca_and_server_cert


def uncomment_example(text: str) -> str:
    """Turn the commented-out YAML of the example back into YAML (descriptions start with '# ')."""
    return "\n".join(line[1:] if re.match(r"^#(\S|  |- )", line) else line for line in text.splitlines())


class ConfigTest(unittest.TestCase):
    def test_defaults(self) -> None:
        c = Config({"server_name": "example.com"}, "/etc/hs")
        self.assertEqual(c.listeners[0]["port"], 8008)
        self.assertEqual(c.database_name, "sqlite3")
        self.assertEqual(c.database_args["database"], "/etc/hs/homeserver.db")
        self.assertEqual(c.refreshable_access_token_lifetime_ms, 300_000)
        self.assertIsNone(c.refresh_token_lifetime_ms)
        self.assertEqual(c.max_upload_size, 50 * 1024 * 1024)
        self.assertEqual(c.public_baseurl, "https://example.com/")
        self.assertEqual(c.rc_login_address, {"per_second": 0.003, "burst_count": 5})

    def test_web_client_path_from_environment(self) -> None:
        """The Docker image names its built client in HOMESERVER_WEB_CLIENT_PATH; the config wins."""
        old = os.environ.pop("HOMESERVER_WEB_CLIENT_PATH", None)
        self.addCleanup(lambda: os.environ.__setitem__("HOMESERVER_WEB_CLIENT_PATH", old) if old is not None
                        else os.environ.pop("HOMESERVER_WEB_CLIENT_PATH", None))
        self.assertTrue(Config({"server_name": "x"}, "/etc/hs").web_client_path.endswith(
            os.path.join("clients", "web", "dist")))
        os.environ["HOMESERVER_WEB_CLIENT_PATH"] = "/opt/homeserver/web"
        self.assertEqual(Config({"server_name": "x"}, "/etc/hs").web_client_path, "/opt/homeserver/web")
        c = Config({"server_name": "x", "web_client": {"path": "client"}}, "/etc/hs")
        self.assertEqual(c.web_client_path, "/etc/hs/client")

    def test_errors_name_the_key(self) -> None:
        cases = [
            ({"server_name": "x", "bogus": 1}, "Config error at (top level): unknown option(s): bogus"),
            ({}, "'server_name' is a required property"),
            ({"server_name": "x", "rc_login": {"address": {"per_second": "fast"}}},
             "Config error at rc_login.address.per_second: 'fast' is not of type 'number'"),
            ({"server_name": "x", "listeners": [{"port": 8008, "typo": 1}]},
             "Config error at listeners[0]: unknown option(s): typo"),
            ({"server_name": "x", "database": {"name": "mysql"}}, "Config error at database.name"),
            ({"server_name": "x", "refresh_token_lifetime": "5 minutes"}, "Config error at refresh_token_lifetime"),
            ({"server_name": "x", "enable_registration": True}, "Config error at enable_registration"),
        ]
        for raw, expected in cases:
            with self.assertRaises(ConfigError) as cm:
                Config(raw, "/tmp")
            self.assertIn(expected, str(cm.exception))

    def test_units(self) -> None:
        self.assertEqual(duration_ms("5m"), 300_000)
        self.assertEqual(duration_ms("250ms"), 250)
        self.assertEqual(duration_ms(1500), 1500)
        self.assertEqual(duration_ms("2d"), 172_800_000)
        self.assertEqual(size_bytes("10K"), 10240)
        self.assertEqual(size_bytes("1G"), 1024**3)

    def test_synapse_options_accepted(self) -> None:
        Config({"server_name": "x", "report_stats": False, "macaroon_secret_key": "abc",
                "trusted_key_servers": [{"server_name": "matrix.org"}],
                "database": {"name": "psycopg2", "args": {"user": "synapse", "cp_min": 5, "cp_max": 10}},
                "rc_message": {"per_second": 0.5, "burst_count": 20}}, "/tmp")

    def test_outgoing_request_options(self) -> None:
        c = Config({"server_name": "x"}, "/tmp")
        self.assertFalse(c.ip_range_policy.allows("10.0.0.1"))
        self.assertTrue(c.ip_range_policy.allows("8.8.8.8"))
        self.assertEqual(c.push_tls.extra_ca_certificates, ())
        c = Config({"server_name": "x", "ip_range_whitelist": ["10.0.0.1/32"]}, "/tmp")
        self.assertTrue(c.ip_range_policy.allows("10.0.0.1"))
        for raw, expected in [
            ({"ip_range_blacklist": ["10.0.0.0/8", "bad"]}, "Config error at ip_range_blacklist[1]"),
            ({"ip_range_whitelist": ["300.0.0.1"]}, "Config error at ip_range_whitelist[0]"),
            ({"url_preview_ip_range_whitelist": ["x"]}, "Config error at url_preview_ip_range_whitelist[0]"),
            ({"push": {"extra_ca_certificates": ["missing.pem"]}},
             "Config error at push.extra_ca_certificates: cannot read /tmp/missing.pem"),
        ]:
            with self.assertRaises(ConfigError) as cm:
                c = Config({"server_name": "x", **raw}, "/tmp")
                MediaConfig.from_config(c)
            self.assertIn(expected, str(cm.exception))
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "not-a-cert.pem"), "w") as f:
                f.write("hello")
            with self.assertRaises(ConfigError) as cm:
                Config({"server_name": "x", "push": {"extra_ca_certificates": ["not-a-cert.pem"]}}, d)
            self.assertIn("holds no PEM certificate", str(cm.exception))
            ca_path, _, _ = make_ca_and_server_cert(d, "gateway.test")
            c = Config({"server_name": "x", "push": {"extra_ca_certificates": [os.path.basename(ca_path)]}}, d)
            self.assertEqual(len(c.push_tls.extra_ca_certificates), 1)

    def test_url_previews_refuse_the_general_blacklist_and_their_own(self) -> None:
        policy = MediaConfig.from_config(Config({
            "server_name": "x", "ip_range_whitelist": ["10.0.0.1/32"], "ip_range_blacklist": ["10.0.0.0/8", "1.2.3.0/24"],
            "url_preview_ip_range_blacklist": ["5.6.7.0/24"], "url_preview_ip_range_whitelist": ["1.2.3.4/32"]},
            "/tmp")).url_preview_ip_policy
        self.assertFalse(policy.allows("10.0.0.1"))  # the general whitelist is not the previews'
        self.assertFalse(policy.allows("1.2.3.5"))
        self.assertTrue(policy.allows("1.2.3.4"))
        self.assertFalse(policy.allows("5.6.7.8"))
        self.assertTrue(policy.allows("8.8.8.8"))

    def test_load_config_errors(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "homeserver.yaml")
            with self.assertRaises(ConfigError):
                load_config(path)
            with open(path, "w") as f:
                f.write("server_name: [unclosed")
            self.assertRaises(ConfigError, load_config, path)
            with open(path, "w") as f:
                f.write("- a list")
            self.assertRaises(ConfigError, load_config, path)


class GeneratedFilesTest(unittest.TestCase):
    def test_example_and_docs_are_up_to_date(self) -> None:
        with open(config_docs.EXAMPLE_PATH) as f:
            self.assertEqual(f.read(), config_docs.render_example(),
                             "homeserver.yaml.example is stale: run python -m homeserver.config.docs")
        with open(config_docs.DOCS_PATH) as f:
            self.assertEqual(f.read(), config_docs.render_markdown(),
                             "docs/config.md is stale: run python -m homeserver.config.docs")

    def test_example_validates_with_every_option_uncommented(self) -> None:
        with open(config_docs.EXAMPLE_PATH) as f:
            raw = yaml.safe_load(uncomment_example(f.read()))
        self.assertGreater(len(raw), 30)
        Config(raw, "/tmp")

    def test_generate_config_writes_a_loadable_config(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "conf", "homeserver.yaml")
            generate_config("example.org", path, os.path.join(d, "data"))
            c = load_config(path)
            self.assertEqual(c.server_name, "example.org")
            self.assertTrue(os.path.exists(c.signing_key_path))
            self.assertTrue(c.registration_shared_secret)
            self.assertEqual(os.path.dirname(c.database_args["database"]), os.path.join(d, "data"))
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            with open(c.signing_key_path) as f:
                self.assertRegex(f.read(), r"^ed25519 a_\w{4} \S+\n$")
            self.assertRaises(FileExistsError, generate_config, "example.org", path)

    def test_generated_public_baseurl_never_carries_two_ports(self) -> None:
        """Issue 12 item 11: a server name with a port gave `http://127.0.0.1:8448:8008/`."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "homeserver.yaml")
            generate_config("127.0.0.1:8448", path)
            self.assertEqual(load_config(path).public_baseurl, "https://127.0.0.1:8448/")
            path = os.path.join(d, "local.yaml")
            generate_config("localhost", path, port=8009)
            self.assertEqual(load_config(path).public_baseurl, "http://localhost:8009/")
        self.assertEqual(Config({"server_name": "127.0.0.1:8448"}, "/tmp").public_baseurl, "https://127.0.0.1:8448/")
