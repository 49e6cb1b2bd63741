"""The federation client as HomeServer wires it: built at first use from the config (TLS options,
federation_ip_range_blacklist, federation_domain_whitelist), used by the key ring to fetch other
servers' keys, and, in in-process tests, never reaching real DNS."""

from __future__ import annotations

import json

from signedjson.key import generate_signing_key, get_verify_key
from twisted.web import server

from homeserver.clock import Clock
from homeserver.federation.client import DestinationRefused, FederationUnreachable
from homeserver.federation.discovery import SrvRecord
from homeserver.federation.keys import ServerKeys
from tests.federation.network import InProcessNetwork
from tests.federation.test_client import FakePeer
from tests.outbound.fakes import StaticResolver, StaticSrvResolver
from tests.server import HomeserverTestCase

REMOTE = "remote.example"


class WiringTest(HomeserverTestCase):
    config_overrides = {"ip_range_blacklist": ["10.0.0.0/8", "127.0.0.0/8"]}

    def setup_remote(self) -> FakePeer:
        """A remote server at 198.51.100.7:8448 (by SRV) serving its keys."""
        self.network = InProcessNetwork()
        self.addCleanup(self.network.close)
        self.hs.outbound.connector = self.network
        self.hs.outbound.resolver = StaticResolver({"fed.remote.example": ["198.51.100.7"]})
        self.hs.srv_resolver = StaticSrvResolver({
            f"_matrix-fed._tcp.{REMOTE}": [SrvRecord(0, 0, 8448, "fed.remote.example")]})
        self.remote_keys = ServerKeys(REMOTE, generate_signing_key("r1"), {}, Clock(self.fake_time), 86_400_000)
        peer = FakePeer(REMOTE, get_verify_key(self.hs.signing_key), origin="test")
        peer.answers["/_matrix/key/v2/server"] = (200, json.dumps(self.remote_keys.response()).encode())
        self.network.listen("198.51.100.7", 8448, server.Site(peer))
        return peer

    async def test_built_once_at_first_use(self) -> None:
        self.assertIsNone(self.hs._federation_client)
        client = self.hs.federation_client
        self.assertIs(self.hs.federation_client, client)
        self.assertEqual(client.server_name, "test")

    async def test_the_key_ring_fetches_keys_through_the_federation_client(self) -> None:
        peer = self.setup_remote()
        keys = await self.hs.keyring.verify_keys(REMOTE, ["ed25519:r1"], self.hs.clock.time_msec())
        self.assertEqual(keys["ed25519:r1"], self.remote_keys.verify_key)
        [request] = peer.requests
        self.assertEqual((request["uri"], request["host"], request["signed"]),
                         ("/_matrix/key/v2/server", REMOTE, True))

    async def test_requests_can_land_in_an_in_process_homeserver(self) -> None:
        # Our own resource tree stands for the peer: the hook that two-server tests use.
        network = InProcessNetwork()
        self.addCleanup(network.close)
        self.hs.outbound.connector = network
        self.hs.outbound.resolver = StaticResolver({"test": ["198.51.100.9"]})
        network.listen("198.51.100.9", 443, self.hs.build_site())  # .well-known: 404 here
        network.listen("198.51.100.9", 8448, self.hs.build_site())
        version = await self.hs.federation_client.get_json("test", "/_matrix/federation/v1/version")
        self.assertEqual(version["server"]["name"], "homeserver")
        keys = await self.hs.federation_client.get_json("test", "/_matrix/key/v2/server")
        self.assertEqual(keys["server_name"], "test")
        self.assertEqual([(c.port, c.tls_name) for c in network.connections], [(443, "test"), (8448, "test")])

    async def test_in_process_tests_never_reach_real_dns(self) -> None:
        # matrix.org exists in real DNS; here it resolves to nothing and has no SRV record.
        with self.assertRaises(FederationUnreachable):
            await self.hs.federation_client.get_json("matrix.org", "/_matrix/federation/v1/version")
        self.assertEqual(self.hs.outbound.resolver.lookups, ["matrix.org", "matrix.org"])  # well-known, then 8448
        self.assertEqual(self.hs.srv_resolver.lookups, ["_matrix-fed._tcp.matrix.org", "_matrix._tcp.matrix.org"])
        self.assertEqual(await self.hs.keyring.verify_keys("example.org", ["ed25519:a"], None), {})


class WhitelistWiringTest(HomeserverTestCase):
    config_overrides = {"federation_domain_whitelist": ["friend.example"]}

    async def test_the_configured_whitelist_applies(self) -> None:
        with self.assertRaises(DestinationRefused):
            await self.hs.federation_client.get_json("stranger.example", "/_matrix/federation/v1/version")
        self.assertEqual(self.hs.outbound.resolver.lookups, [])


class BlacklistWiringTest(HomeserverTestCase):
    async def test_the_configured_blacklist_applies(self) -> None:
        self.hs.outbound.resolver = StaticResolver({"sneaky.example": ["169.254.169.254"]})
        with self.assertRaises(DestinationRefused):
            await self.hs.federation_client.get_json("sneaky.example:8448", "/_matrix/federation/v1/version")
