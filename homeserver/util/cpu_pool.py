"""A bounded pool of threads for CPU-heavy work on what users send (image decoding and
thumbnailing, HTML parsing, password hashing, big JSON encodes), so that the reactor thread keeps
serving everybody else while it runs.

The pool has a fixed number of threads; work beyond that waits in its queue. Callers check sizes
*before* they hand work over (a decompression bomb or a 50 MB page is refused, not queued). With
`size=0` the work runs in place, on the caller's thread: the in-process tests use that so that
they stay deterministic."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer, threads
from twisted.python.threadpool import ThreadPool

R = TypeVar("R")
DEFAULT_CPU_THREADS = 4


class CpuPool:
    def __init__(self, reactor: Any, size: int = DEFAULT_CPU_THREADS, name: str = "cpu"):
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=size, name=name) if size > 0 else None
        self._started = False

    def start(self) -> None:
        if self._pool is not None and not self._started:
            self._pool.start()
            self._started = True

    def stop(self) -> None:
        if self._pool is not None and self._started:
            self._pool.stop()
            self._started = False

    async def run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """`fn(*args, **kwargs)` on a pool thread (or in place), its exceptions raised here."""
        if self._pool is None:
            return fn(*args, **kwargs)
        ctx = contextvars.copy_context()  # keeps the request id in the thread's log lines
        return await threads.deferToThreadPool(self._reactor, self._pool, ctx.run, fn, *args, **kwargs)


class LimitedRunner:
    """Runs one kind of job on a CpuPool, at most `limit` at once; the others wait their turn in
    order. For work whose cost is memory as much as CPU (image decoding, argon2 hashing): the
    pool bounds the threads, this bounds how many of those threads may hold such a job."""

    def __init__(self, pool: CpuPool, limit: int):
        self._pool = pool
        self._semaphore = defer.DeferredSemaphore(limit)
        self.limit = limit
        self.running = 0

    @property
    def waiting(self) -> int:
        return len(self._semaphore.waiting)

    async def run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        await self._semaphore.acquire()
        self.running += 1
        try:
            return await self._pool.run(fn, *args, **kwargs)
        finally:
            self.running -= 1
            self._semaphore.release()
