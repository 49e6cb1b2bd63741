"""A homeserver.yaml and log config written for Synapse: its options we do not implement are
accepted and named in one warning, typos still stop start-up, and Synapse's logging classes are
replaced by standard ones (never a traceback)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import sys
import tempfile

import yaml
from twisted.trial import unittest

from homeserver.config import Config, ConfigError
from homeserver.config.synapse_keys import SYNAPSE_TOP_LEVEL_KEYS
from homeserver.logging_setup import LogConfigError, read_log_config, setup_logging


class SynapseOptionsTest(unittest.TestCase):
    def test_synapse_only_options_are_accepted_with_one_warning(self) -> None:
        c = Config({
            "server_name": "example.com",
            "report_stats": False, "macaroon_secret_key": "m", "form_secret": "f",
            "enable_media_repo": True, "caches": {"global_factor": 2.0}, "rc_federation": {"concurrent": 5},
            "database": {"name": "sqlite3", "txn_limit": 100, "args": {"database": "x.db"}},
            "listeners": [{"port": 8008, "tag": "main", "resources": [{"names": ["client", "consent"]}]}],
            "password_config": {"pepper": "p", "policy": {"enabled": True}},
            "experimental_features": {"msc3266_enabled": True, "msc4140_max_delayed_events_per_user": 3},
        }, "/etc/hs")
        self.assertEqual(c.ignored_synapse_options, [
            "database.txn_limit", "enable_media_repo", "experimental_features.msc3266_enabled",
            "form_secret", "listeners[0].tag", "macaroon_secret_key", "password_config.pepper", "rc_federation",
            "report_stats"])
        self.assertEqual(len(c.warnings), 1)
        for name in c.ignored_synapse_options:
            self.assertIn(name, c.warnings[0])
        # What we implement is still read.
        self.assertEqual(c.max_delayed_events_per_user, 3)
        self.assertEqual(c.cache_global_factor, 2.0)
        self.assertTrue(c.password_policy["enabled"])
        self.assertEqual(c.database_args["database"], "/etc/hs/x.db")
        # Nothing to say about a config of our own.
        self.assertEqual(Config({"server_name": "example.com"}, "/etc/hs").warnings, [])

    def test_unknown_options_stop_start_up(self) -> None:
        cases = [
            ({"enable_registation": True}, "unknown option(s): enable_registation (did you mean enable_registration?)"),
            ({"rc_invite": {}}, "(did you mean rc_invites?)"),
            ({"media_store_pth": "m"}, "(did you mean media_store_path?)"),
            ({"no_such_thing": 1}, "unknown option(s): no_such_thing"),
            ({"listeners": [{"port": 1, "bind_adresses": ["::"]}]}, "Config error at listeners[0]: unknown option"),
            ({"database": {"name": "sqlite3", "argz": {}}}, "Config error at database: unknown option(s): argz"),
            # An option we implement is checked even though Synapse has it too.
            ({"rc_joins": {"local": {"per_second": "fast"}}}, "Config error at rc_joins.local.per_second"),
        ]
        for extra, expected in cases:
            with self.assertRaises(ConfigError) as cm:
                Config({"server_name": "x", **extra}, "/tmp")
            self.assertIn(expected, str(cm.exception))
        with self.assertRaises(ConfigError) as cm:
            Config({"server_name": "x", "no_such_thing": 1}, "/tmp")
        self.assertNotIn("did you mean", str(cm.exception))

    def test_registration_shared_secret_path_is_created_when_missing(self) -> None:
        d = tempfile.mkdtemp()
        first = Config({"server_name": "x", "registration_shared_secret_path": "secret"}, d)
        self.assertGreaterEqual(len(first.registration_shared_secret), 32)
        self.assertEqual(os.stat(os.path.join(d, "secret")).st_mode & 0o777, 0o600)
        self.assertEqual(first.warnings, [f"Wrote a new registration shared secret to {os.path.join(d, 'secret')}"])
        again = Config({"server_name": "x", "registration_shared_secret_path": "secret"}, d)
        self.assertEqual(again.registration_shared_secret, first.registration_shared_secret)
        self.assertEqual(again.warnings, [])
        with self.assertRaises(ConfigError):
            Config({"server_name": "x", "registration_shared_secret_path": "/nonexistent/dir/secret"}, d)

    def test_every_option_of_ours_that_synapse_has_is_in_the_list(self) -> None:
        # Guards the data file against losing names: these are in Synapse's manual.
        for name in ("server_name", "listeners", "database", "log_config", "media_store_path",
                     "registration_shared_secret", "macaroon_secret_key", "form_secret", "trusted_key_servers",
                     "rc_joins", "rc_invites", "rc_admin_redaction", "email", "registrations_require_3pid",
                     "allowed_local_3pids", "modules", "caches", "redis", "worker_app", "experimental_features"):
            self.assertIn(name, SYNAPSE_TOP_LEVEL_KEYS)


SYNAPSE_LOG_CONFIG = """
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
  structured:
    class: synapse.logging.TerseJsonFormatter
filters:
  context:
    (): synapse.logging.context.LoggingContextFilter
    request: ""
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {log_file}
    filters: [context]
  buffer:
    class: synapse.logging.handlers.PeriodicallyFlushingMemoryHandler
    target: file
    capacity: 3
    flushLevel: 30
    period: 5
  remote:
    class: synapse.logging.RemoteHandler
    host: 10.1.2.3
    port: 9000
    maximum_buffer: 1000
    formatter: structured
loggers:
  synapse.storage.SQL:
    level: INFO
  synapse_compat_test:
    level: INFO
    handlers: [buffer, remote]
    propagate: false
"""


class SynapseLogConfigTest(unittest.TestCase):
    def setUp(self) -> None:
        root = logging.getLogger()
        saved = (root.handlers[:], root.level, sys.stderr)

        def restore() -> None:
            root.handlers[:], level, sys.stderr = saved
            root.setLevel(level)
            test_logger = logging.getLogger("synapse_compat_test")
            for handler in test_logger.handlers:
                handler.close()
            test_logger.handlers[:] = []

        self.addCleanup(restore)
        self.dir = tempfile.mkdtemp()
        self.log_file = os.path.join(self.dir, "homeserver.log")

    def write(self, text: str) -> str:
        path = os.path.join(self.dir, "log.config")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_synapse_classes_are_replaced(self) -> None:
        path = self.write(SYNAPSE_LOG_CONFIG.format(log_file=self.log_file))
        config, notes = read_log_config(path)
        self.assertEqual(config["handlers"]["buffer"]["class"],
                         "homeserver.logging_setup.PeriodicallyFlushingMemoryHandler")
        self.assertEqual(config["handlers"]["remote"]["class"], "logging.StreamHandler")
        self.assertNotIn("host", config["handlers"]["remote"])
        self.assertEqual(config["filters"]["context"]["()"], "homeserver.logging_setup.RequestIdFilter")
        self.assertFalse(config["disable_existing_loggers"])
        self.assertEqual(len(notes), 1)
        self.assertIn("synapse.logging.RemoteHandler", notes[0])

        sys.stderr = io.StringIO()  # where the stand-in for the remote handler writes
        logging.config.dictConfig(config)
        log = logging.getLogger("synapse_compat_test")
        log.warning("flushed at once")  # flushLevel 30
        with open(self.log_file) as f:
            self.assertIn(" - WARNING - - - flushed at once", f.read())
        for n in range(3):  # capacity 3
            log.info("line %d", n)
        with open(self.log_file) as f:
            self.assertIn("line 2", f.read())
        remote = [json.loads(line) for line in sys.stderr.getvalue().splitlines()]
        self.assertEqual([r["log"] for r in remote], ["flushed at once", "line 0", "line 1", "line 2"])

    def test_setup_logging_reads_synapses_generated_file(self) -> None:
        text = SYNAPSE_LOG_CONFIG.format(log_file=self.log_file)
        raw = yaml.safe_load(text)
        raw.pop("disable_existing_loggers", None)
        raw["root"] = {"level": "INFO", "handlers": ["buffer"]}
        del raw["handlers"]["remote"], raw["loggers"]["synapse_compat_test"]
        setup_logging(self.write(yaml.safe_dump(raw)))
        logging.getLogger("homeserver.some_module").warning("from our code")
        with open(self.log_file) as f:
            self.assertIn("homeserver.some_module - 0 - WARNING - - - from our code", f.read())

    def test_unusable_log_configs_are_a_message_not_a_traceback(self) -> None:
        cases = [
            ("handlers:\n  h:\n    class: no.such.module.Handler\nroot:\n  handlers: [h]\n", "no.such.module"),
            ("- a list\n", "must be a YAML mapping"),
            ("version: [unclosed\n", "not valid YAML"),
            ("handlers:\n  h:\n    class: logging.FileHandler\n    filename: /nonexistent/dir/x.log\n"
             "root:\n  handlers: [h]\n", "/nonexistent/dir/x.log"),
        ]
        for text, expected in cases:
            with self.assertRaises(LogConfigError) as cm:
                setup_logging(self.write(text))
            self.assertTrue(str(cm.exception).startswith("Config error at log_config"), str(cm.exception))
            self.assertIn(expected, str(cm.exception))
        with self.assertRaises(LogConfigError):
            setup_logging(os.path.join(self.dir, "missing.config"))
