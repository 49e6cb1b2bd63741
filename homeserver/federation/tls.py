"""TLS for outgoing federation (Synapse's option names):

- `federation_verify_certificates` (default true): a server's certificate must be valid for the
  name discovery expects (the server name, or the delegated name; an IP address for IP literals,
  with no SNI sent), signed by a trusted CA.
- `federation_custom_ca_list`: PEM files whose CAs are the ONLY ones trusted for federation (the
  system's are then not used), e.g. for a private federation.
- `federation_certificate_verification_whitelist`: globs (`*.onion`, `*.internal.example`) of
  names whose certificates are not checked at all, for tests or networks that secure traffic
  otherwise. Matched, case-insensitively, against the name the certificate is checked for."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from zope.interface import implementer

from homeserver.outbound.tls import load_ca_certificates
from homeserver.util.glob import Glob


@implementer(IOpenSSLClientConnectionCreator)
class _Unverified:
    """TLS without checking the certificate: SNI is still sent for DNS names."""

    def __init__(self, context: Any, hostname: str):
        self._context = context
        self._name = hostname
        try:
            ipaddress.ip_address(hostname)
            self._sni: bytes | None = None
        except ValueError:
            self._sni = hostname.encode("idna") if hostname else None

    def clientConnectionForTLS(self, tls_protocol: Any) -> SSL.Connection:  # noqa: N802 - Twisted's name
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tls_protocol)
        if self._sni:
            connection.set_tlsext_host_name(self._sni)
        connection.set_connect_state()
        return connection


class FederationTls:
    """Builds the TLS connection creator for each name (outbound.TlsPolicy)."""

    def __init__(self, verify: bool = True, no_verify_globs: Sequence[str] = (),
                 custom_ca: Sequence[crypto.X509] = ()):
        self.verify = verify
        self._no_verify = [Glob(pattern, ignore_case=True) for pattern in no_verify_globs]
        self._trust = (ssl.trustRootFromCertificates([ssl.Certificate(c) for c in custom_ca])
                       if custom_ca else None)
        self._unverified_context: Any = None

    @classmethod
    def from_config(cls, verify: bool, no_verify_globs: Sequence[str], ca_paths: Sequence[str]) -> FederationTls:
        return cls(verify, no_verify_globs, load_ca_certificates(ca_paths))

    def verifies(self, hostname: str) -> bool:
        return self.verify and not any(glob.matches(hostname) for glob in self._no_verify)

    def creator_for(self, hostname: str) -> IOpenSSLClientConnectionCreator:
        if not self.verifies(hostname):
            if self._unverified_context is None:
                self._unverified_context = ssl.CertificateOptions(
                    verify=False, raiseMinimumTo=ssl.TLSVersion.TLSv1_2).getContext()
            return _Unverified(self._unverified_context, hostname)
        if self._trust is not None:
            return ssl.optionsForClientTLS(hostname, trustRoot=self._trust)
        return ssl.optionsForClientTLS(hostname)
