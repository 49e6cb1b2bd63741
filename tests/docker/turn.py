"""A minimal TURN client (RFC 5766 Allocate over UDP with long-term credentials, RFC 5389 STUN
framing): enough to prove that a TURN server accepts the credentials a homeserver hands out and
gives a relay address."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
from dataclasses import dataclass

MAGIC_COOKIE = 0x2112A442
ALLOCATE = 0x0003
REFRESH = 0x0004
SUCCESS = 0x0100
ERROR = 0x0110

USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
LIFETIME = 0x000D
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_TRANSPORT = 0x0019
XOR_MAPPED_ADDRESS = 0x0020

UDP = 17


class TurnError(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(f"TURN error {code} {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Allocation:
    relayed: tuple[str, int]
    mapped: tuple[str, int] | None
    lifetime: int


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\x00" * (-len(value) % 4)


def _message(method: int, txid: bytes, attrs: list[tuple[int, bytes]], key: bytes | None) -> bytes:
    body = b"".join(_attr(k, v) for k, v in attrs)
    if key is None:
        return struct.pack("!HHI", method, len(body), MAGIC_COOKIE) + txid + body
    # MESSAGE-INTEGRITY: HMAC-SHA1 over the message so far, its length already counting the attribute.
    header = struct.pack("!HHI", method, len(body) + 24, MAGIC_COOKIE) + txid
    mac = hmac.new(key, header + body, hashlib.sha1).digest()
    return header + body + _attr(MESSAGE_INTEGRITY, mac)


def _parse(data: bytes, txid: bytes) -> tuple[int, dict[int, bytes]]:
    if len(data) < 20:
        raise ValueError("short STUN message")
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC_COOKIE or data[8:20] != txid:
        raise ValueError("not the answer to our request")
    attrs: dict[int, bytes] = {}
    pos = 20
    while pos + 4 <= 20 + length:
        a_kind, a_len = struct.unpack("!HH", data[pos:pos + 4])
        attrs.setdefault(a_kind, data[pos + 4:pos + 4 + a_len])
        pos += 4 + a_len + (-a_len % 4)
    return kind, attrs


def _xor_address(value: bytes) -> tuple[str, int]:
    family = value[1]
    port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC_COOKIE >> 16)
    if family != 1:
        raise ValueError("only IPv4 addresses are decoded")
    ip = struct.unpack("!I", value[4:8])[0] ^ MAGIC_COOKIE
    return socket.inet_ntoa(struct.pack("!I", ip)), port


def _error(attrs: dict[int, bytes]) -> TurnError:
    value = attrs.get(ERROR_CODE, b"\x00\x00\x00\x00")
    return TurnError(value[2] * 100 + value[3], value[4:].decode("utf-8", "replace"))


class TurnClient:
    def __init__(self, host: str, port: int, timeout: float = 2.0, attempts: int = 5):
        self.address = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.attempts = attempts

    def close(self) -> None:
        self.sock.close()

    def _exchange(self, message: bytes, txid: bytes) -> tuple[int, dict[int, bytes]]:
        for _ in range(self.attempts):  # UDP: retransmit until answered
            self.sock.sendto(message, self.address)
            try:
                while True:
                    data, _addr = self.sock.recvfrom(2048)
                    try:
                        return _parse(data, txid)
                    except ValueError:
                        continue
            except TimeoutError:
                continue
        raise TimeoutError(f"no answer from the TURN server at {self.address}")

    def allocate(self, username: str, password: str) -> Allocation:
        """Allocate a UDP relay: the unauthenticated request is answered 401 with the realm and a
        nonce, then the request is repeated with the long-term credential."""
        transport = [(REQUESTED_TRANSPORT, bytes([UDP, 0, 0, 0]))]
        txid = os.urandom(12)
        kind, attrs = self._exchange(_message(ALLOCATE, txid, transport, None), txid)
        if kind != ALLOCATE | ERROR or _error(attrs).code != 401:
            raise TurnError(0, f"expected a 401 challenge, got message type {kind:#06x}")
        realm, nonce = attrs[REALM], attrs[NONCE]
        self._auth = (username.encode(), realm, nonce,
                      hashlib.md5(username.encode() + b":" + realm + b":" + password.encode()).digest())
        txid = os.urandom(12)
        kind, attrs = self._exchange(_message(ALLOCATE, txid, transport + self._auth_attrs(), self._auth[3]), txid)
        if kind != ALLOCATE | SUCCESS:
            raise _error(attrs)
        mapped = _xor_address(attrs[XOR_MAPPED_ADDRESS]) if XOR_MAPPED_ADDRESS in attrs else None
        return Allocation(_xor_address(attrs[XOR_RELAYED_ADDRESS]), mapped,
                          struct.unpack("!I", attrs[LIFETIME])[0] if LIFETIME in attrs else 0)

    def release(self) -> None:
        """Refresh with lifetime 0: the server frees the allocation."""
        txid = os.urandom(12)
        attrs = [(LIFETIME, struct.pack("!I", 0)), *self._auth_attrs()]
        kind, answer = self._exchange(_message(REFRESH, txid, attrs, self._auth[3]), txid)
        if kind != REFRESH | SUCCESS:
            raise _error(answer)

    def _auth_attrs(self) -> list[tuple[int, bytes]]:
        username, realm, nonce, _key = self._auth
        return [(USERNAME, username), (REALM, realm), (NONCE, nonce)]
