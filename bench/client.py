"""The benchmarks' asyncio side: a small keep-alive HTTP/1.1 client, a pool of connections that
runs jobs, and the setup steps built on them (shared-secret registration, rooms, joins).
Only 127.0.0.1 is used.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

from common import HOST, PASSWORD, registration_body

CLIENT = "/_matrix/client/v3"
REQUEST_TIMEOUT = 60.0  # seconds for any one request


# --------------------------------------------------------------------------
# a small keep-alive HTTP/1.1 client on asyncio streams (lighter than a general client)


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive connection; requests on it run one at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, bytes]:
        """Returns (status, body bytes). Raises HttpError or OSError when the exchange fails."""
        try:
            return await asyncio.wait_for(self._request(method, path, body, token), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, HttpError, asyncio.IncompleteReadError, ValueError):
            await self.close()  # start clean on the next request
            raise

    async def _request(self, method: str, path: str, body: dict | None, token: str | None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        elif method in ("POST", "PUT"):
            head += "Content-Length: 0\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            payload = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers expected
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            payload = b"".join(chunks)
        else:
            payload = await self.reader.read()  # until close
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, payload

    async def json(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        """A request that must answer 200 with a JSON object (setup steps)."""
        status, payload = await self.request(method, path, body, token)
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status} {payload[:300]!r}")
        return json.loads(payload)


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


async def run_pool(port: int, jobs: list, concurrency: int) -> list:
    """Run the coroutine functions `jobs` (each takes a Conn) on `concurrency` connections, in order."""
    results: list = [None] * len(jobs)
    next_job = iter(range(len(jobs)))

    async def worker() -> None:
        conn = Conn(port)
        try:
            for i in next_job:
                results[i] = await jobs[i](conn)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(jobs))))))
    return results


# --------------------------------------------------------------------------
# setup


async def register(conn: Conn, secret: str, username: str) -> str:
    """Shared-secret registration; returns an access token."""
    path = "/_synapse/admin/v1/register"
    nonce = (await conn.json("GET", path))["nonce"]
    body = registration_body(secret, nonce, username, PASSWORD)
    return (await conn.json("POST", path, body))["access_token"]


async def register_many(port: int, secret: str, names: list[str], concurrency: int = 8) -> list[str]:
    jobs = [lambda c, n=n: register(c, secret, n) for n in names]
    return await run_pool(port, jobs, concurrency)


async def create_room(conn: Conn, token: str, name: str) -> str:
    body = {"preset": "public_chat", "name": name}
    return (await conn.json("POST", f"{CLIENT}/createRoom", body, token))["room_id"]


async def join(conn: Conn, token: str, room_id: str) -> tuple[bool, float]:
    """(answered 200, seconds taken); transport errors count as failures."""
    t0 = time.perf_counter()
    try:
        status, _ = await conn.request("POST", f"{CLIENT}/join/{q(room_id)}", {}, token)
    except Exception:
        status = 0
    return status == 200, time.perf_counter() - t0


async def create_rooms(port: int, token: str, names: list[str]) -> list[str]:
    """Public rooms created one after the other by `token`'s user; their IDs."""
    conn = Conn(port)
    try:
        return [await create_room(conn, token, name) for name in names]
    finally:
        await conn.close()


async def rooms_everyone_joins(port: int, tokens: list[str], count: int, name: str, concurrency: int) -> list[str]:
    """`count` rooms created by the first user, which every other user joins."""
    rooms = await create_rooms(port, tokens[0], [f"{name} {r}" for r in range(count)])
    pairs = [(tok, room) for tok in tokens[1:] for room in rooms]
    joined = await run_pool(port, [lambda c, p=p: join(c, *p) for p in pairs], concurrency)
    failed = sum(not ok for ok, _ in joined)
    if failed:
        raise RuntimeError(f"{failed} of {len(pairs)} setup joins failed")
    return rooms


async def send_text(conn: Conn, token: str, room_id: str, txn: str, body: str) -> int:
    """An m.text message; the HTTP status."""
    status, _ = await conn.request("PUT", f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/{txn}",
                                   {"msgtype": "m.text", "body": body}, token)
    return status
