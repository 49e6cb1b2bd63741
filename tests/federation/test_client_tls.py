"""TLS verification of outgoing federation against a real loopback TLS server whose certificate a
throw-away CA signed: refused by default, accepted with that CA in federation_custom_ca_list (for
the right name only), or without checks for names in the verification whitelist or when
federation_verify_certificates is off."""

from __future__ import annotations

import tempfile
from typing import Any

from signedjson.key import generate_signing_key, get_verify_key
from twisted.internet import defer, reactor, ssl, task
from twisted.trial import unittest
from twisted.web import server

from homeserver.clock import Clock
from homeserver.federation.client import FederationHttpClient, FederationUnreachable
from homeserver.federation.tls import FederationTls
from homeserver.outbound import DEFAULT_IP_RANGE_BLACKLIST, IpRangePolicy, OutboundHttp
from tests.federation.test_client import ORIGIN, FakePeer
from tests.outbound.certs import make_ca_and_server_cert
from tests.outbound.fakes import StaticResolver, StaticSrvResolver


class FederationTlsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.time = task.Clock()
        self.key = generate_signing_key("k1")
        directory = tempfile.mkdtemp(prefix="fed-tls-")
        self.ca_path, cert_path, key_path = make_ca_and_server_cert(directory, "fed.test")
        with open(cert_path, "rb") as c, open(key_path, "rb") as k:
            certificate = ssl.PrivateCertificate.loadPEM(c.read() + k.read())
        site = server.Site(FakePeer("unused", None))
        site.timeOut = None
        self.port = reactor.listenSSL(0, site, certificate.options(), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.portnum = self.port.getHost().port
        self.dest = f"fed.test:{self.portnum}"
        self.peer = FakePeer(self.dest, get_verify_key(self.key))
        site.resource = self.peer
        self.outbound = OutboundHttp(reactor, resolver=StaticResolver({"fed.test": ["127.0.0.1"],
                                                                        "wrong.test": ["127.0.0.1"]}), time=self.time)
        self.addCleanup(lambda: defer.ensureDeferred(self.outbound.close()))

    def client(self, tls: FederationTls) -> FederationHttpClient:
        policy = IpRangePolicy.from_strings(DEFAULT_IP_RANGE_BLACKLIST, ["127.0.0.1/32"])
        return FederationHttpClient(ORIGIN, self.key, Clock(self.time), self.outbound, policy, tls, StaticSrvResolver(), None)

    async def fails(self, tls: FederationTls, dest: str | None = None) -> None:
        with self.assertRaises(FederationUnreachable):
            await self.client(tls).get_json(dest or self.dest, "/_matrix/federation/v1/version")
        self.assertEqual(self.peer.requests, [])  # nothing was sent to an unauthenticated server

    async def works(self, tls: FederationTls, dest: str | None = None) -> Any:
        answer = await self.client(tls).get_json(dest or self.dest, "/_matrix/federation/v1/version")
        self.assertTrue(self.peer.requests[-1]["signed"])
        return answer

    async def test_an_unknown_ca_is_refused_by_default(self) -> None:
        await self.fails(FederationTls())

    async def test_the_custom_ca_list_is_trusted(self) -> None:
        await self.works(FederationTls.from_config(True, [], [self.ca_path]))

    async def test_the_name_is_still_checked(self) -> None:
        self.peer.name = f"wrong.test:{self.portnum}"
        await self.fails(FederationTls.from_config(True, [], [self.ca_path]), f"wrong.test:{self.portnum}")

    async def test_the_verification_whitelist_skips_checks_for_matching_names(self) -> None:
        await self.fails(FederationTls.from_config(True, ["other.*", "fed.tes"], []))
        await self.works(FederationTls.from_config(True, ["*.TEST"], []))

    async def test_verification_can_be_switched_off(self) -> None:
        await self.works(FederationTls.from_config(False, [], []))
