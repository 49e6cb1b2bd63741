"""The federation client's options (Synapse's names): TLS verification, its whitelist and custom
CA list, and federation_ip_range_blacklist falling back to ip_range_blacklist."""

from __future__ import annotations

import tempfile

from twisted.trial import unittest

from homeserver.config import Config, ConfigError
from tests.outbound.certs import make_ca_and_server_cert


class ConfigTest(unittest.TestCase):
    def test_defaults(self) -> None:
        c = Config({"server_name": "x"}, "/tmp")
        self.assertTrue(c.federation_tls.verifies("example.org"))
        self.assertFalse(c.federation_ip_range_policy.allows("127.0.0.1"))
        self.assertTrue(c.federation_ip_range_policy.allows("8.8.8.8"))

    def test_federation_ip_range_blacklist_replaces_ip_range_blacklist_for_federation(self) -> None:
        c = Config({"server_name": "x", "federation_ip_range_blacklist": ["8.8.8.0/24"],
                    "ip_range_whitelist": ["8.8.8.8/32"]}, "/tmp")
        self.assertFalse(c.federation_ip_range_policy.allows("8.8.8.7"))
        self.assertTrue(c.federation_ip_range_policy.allows("8.8.8.8"))
        self.assertTrue(c.federation_ip_range_policy.allows("10.0.0.1"))
        self.assertFalse(c.ip_range_policy.allows("10.0.0.1"))  # push and previews keep ip_range_blacklist
        c = Config({"server_name": "x", "ip_range_blacklist": ["8.8.8.0/24"]}, "/tmp")
        self.assertFalse(c.federation_ip_range_policy.allows("8.8.8.7"))

    def test_tls_options(self) -> None:
        c = Config({"server_name": "x", "federation_verify_certificates": False}, "/tmp")
        self.assertFalse(c.federation_tls.verifies("example.org"))
        c = Config({"server_name": "x", "federation_certificate_verification_whitelist": ["*.onion", "lab.test"]},
                   "/tmp")
        self.assertEqual([c.federation_tls.verifies(n) for n in ("abc.onion", "LAB.test", "lab.test.evil", "x.org")],
                         [False, False, True, True])
        directory = tempfile.mkdtemp()
        ca_path, _, _ = make_ca_and_server_cert(directory, "x.test")
        c = Config({"server_name": "x", "federation_custom_ca_list": ["ca.pem"]}, directory)
        self.assertEqual(c.federation_custom_ca_list, [ca_path])

    def test_errors_name_the_key(self) -> None:
        for raw, expected in [
            ({"federation_custom_ca_list": ["missing.pem"]},
             "Config error at federation_custom_ca_list: cannot read /tmp/missing.pem"),
            ({"federation_ip_range_blacklist": ["nope"]}, "Config error at federation_ip_range_blacklist[0]"),
            ({"federation_verify_certificates": "yes"}, "federation_verify_certificates"),
            ({"federation_certificate_verification_whitelist": "*.onion"},
             "federation_certificate_verification_whitelist"),
        ]:
            with self.assertRaises(ConfigError) as cm:
                Config({"server_name": "x", **raw}, "/tmp")
            self.assertIn(expected, str(cm.exception))
