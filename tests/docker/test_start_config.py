"""docker/start.py, the image's entrypoint: the homeserver.yaml it writes at first start from the
environment is valid and says what the environment said (runs in the ordinary suites, no Docker)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile

from twisted.trial import unittest

from homeserver.config import load_config
from homeserver.config.generate import generate_config

START_PY = os.path.join(os.path.dirname(__file__), "..", "..", "docker", "start.py")


def load_start_module():  # noqa: ANN201 - a module object
    spec = importlib.util.spec_from_file_location("docker_start", START_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StartConfigTest(unittest.TestCase):
    def setUp(self) -> None:
        self.start = load_start_module()
        self.dir = tempfile.mkdtemp(prefix="docker-start-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "homeserver.yaml")

    def adapted(self, env: dict[str, str]):  # noqa: ANN201 - a Config
        text = self.start.adapt_config(generate_config("example.com", self.path, self.dir, 8008), env)
        with open(self.path, "w") as f:
            f.write(text)
        return load_config(self.path), text

    def test_minimal_environment_sqlite(self) -> None:
        config, text = self.adapted({"SERVER_NAME": "example.com"})
        self.assertEqual(config.listeners[0]["bind_addresses"], ["0.0.0.0"])
        self.assertEqual(config.listeners[0]["port"], 8008)
        self.assertFalse(config.listeners[0]["x_forwarded"])
        self.assertEqual(config.database_name, "sqlite3")
        self.assertEqual(config.database_args["database"], os.path.join(self.dir, "homeserver.db"))
        self.assertEqual(config.public_baseurl, "https://example.com/")
        self.assertEqual(config.turn_uris, [])
        self.assertFalse(config.enable_registration)
        self.assertIn("registration_shared_secret: ", text)

    def test_full_environment(self) -> None:
        config, _text = self.adapted({
            "SERVER_NAME": "example.com", "PUBLIC_BASEURL": "https://matrix.example.com/",
            "POSTGRES_HOST": "postgres", "POSTGRES_PASSWORD": "p@ss: 'word'", "POSTGRES_DB": "hs",
            "TURN_URIS": "turn:turn.example.com:3478?transport=udp, turn:turn.example.com:3478?transport=tcp",
            "TURN_SHARED_SECRET": "s3cret#x", "REGISTRATION_SHARED_SECRET": "reg: secret",
            "ENABLE_REGISTRATION": "true", "HTTP_PORT": "8080", "X_FORWARDED": "true",
        })
        self.assertEqual(config.listeners[0]["port"], 8080)
        self.assertTrue(config.listeners[0]["x_forwarded"])
        self.assertEqual(config.public_baseurl, "https://matrix.example.com/")
        self.assertEqual(config.database_name, "psycopg2")
        self.assertEqual(config.database_args["host"], "postgres")
        self.assertEqual(config.database_args["port"], 5432)
        self.assertEqual(config.database_args["user"], "homeserver")
        self.assertEqual(config.database_args["password"], "p@ss: 'word'")
        self.assertEqual(config.database_args["database"], "hs")
        self.assertEqual(config.turn_uris, ["turn:turn.example.com:3478?transport=udp",
                                            "turn:turn.example.com:3478?transport=tcp"])
        self.assertEqual(config.turn_shared_secret, "s3cret#x")
        self.assertEqual(config.turn_user_lifetime_ms, 86_400_000)
        self.assertEqual(config.registration_shared_secret, "reg: secret")
        self.assertTrue(config.enable_registration)
        self.assertTrue(config.registration_requires_token)

    def test_generate_needs_a_server_name(self) -> None:
        self.start.CONFIG_PATH = self.path
        with self.assertRaises(self.start.StartError) as caught:
            self.start.generate({})
        self.assertIn("set SERVER_NAME", str(caught.exception))
        self.assertFalse(os.path.exists(self.path))

    def test_unexpected_template_is_refused_not_half_applied(self) -> None:
        with self.assertRaises(self.start.StartError):
            self.start.adapt_config("server_name: x\n", {"SERVER_NAME": "x"})
