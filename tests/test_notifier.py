"""The notifier: wake-ups reach only the right waiters, and never before what they announce is readable."""

from __future__ import annotations

from twisted.internet import defer, task
from twisted.trial import unittest

from homeserver.clock import Clock
from homeserver.notifier import Notifier
from homeserver.storage.ids import IdGenerator, StreamIdTracker


def tracker() -> StreamIdTracker:
    generator = IdGenerator("t", "c")
    generator._counter = iter(range(1, 1000))  # no database: positions from 1
    stream = StreamIdTracker(generator)
    stream.load(0)
    return stream


class NotifierTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = task.Clock()
        self.notifier = Notifier(Clock(self.reactor))
        self.stream = tracker()
        self.notifier.track_streams([self.stream])

    def wait(self, user: str, rooms: list[str] = ()) -> defer.Deferred:
        return defer.ensureDeferred(self.notifier.wait(user, rooms, 30_000))

    def test_wakes_only_the_room_and_the_named_users(self) -> None:
        in_room, named, other = self.wait("@a:t", ["!r:t"]), self.wait("@b:t"), self.wait("@c:t", ["!s:t"])
        self.notifier.on_new_event("!r:t", ["@b:t"])
        self.assertTrue(self.successResultOf(in_room))
        self.assertTrue(self.successResultOf(named))
        self.assertNoResult(other)
        self.reactor.advance(30)
        self.assertFalse(self.successResultOf(other))
        self.assertEqual(self.notifier.waiter_count(), 0)

    def test_wake_up_held_until_an_earlier_write_commits(self) -> None:
        # Two writes; the later one commits first and announces itself. Its reader could not
        # see it yet (the stream's readable position waits for the earlier write), so the
        # wake-up must wait too, or the reader would sleep through a write it never saw.
        earlier, later = self.stream.allocate(), self.stream.allocate()
        waiter = self.wait("@b:t")
        self.stream.finish(later)
        self.assertEqual(self.stream.current, 0)
        self.notifier.on_user_data("@b:t")
        self.assertNoResult(waiter)
        self.stream.finish(earlier)
        self.assertEqual(self.stream.current, later)
        self.assertTrue(self.successResultOf(waiter))

    def test_failed_write_releases_held_wake_ups(self) -> None:
        failed, done = self.stream.allocate(), self.stream.allocate()
        waiter = self.wait("@b:t")
        self.stream.finish(done)
        self.notifier.on_user_data("@b:t")
        self.assertNoResult(waiter)
        self.stream.finish(failed)  # a rolled-back transaction finishes its position too
        self.assertTrue(self.successResultOf(waiter))

    def test_nothing_in_flight_wakes_at_once(self) -> None:
        position = self.stream.allocate()
        self.stream.finish(position)
        waiter = self.wait("@b:t")
        self.notifier.on_user_data("@b:t")
        self.assertTrue(self.successResultOf(waiter))


class LongPollCapTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = task.Clock()
        self.notifier = Notifier(Clock(self.reactor), max_waits_per_user=3)

    def wait(self, user: str, rooms: list[str] = ()) -> defer.Deferred:
        return defer.ensureDeferred(self.notifier.wait(user, rooms, 30_000))

    def test_one_more_than_the_cap_answers_the_oldest_as_timed_out(self) -> None:
        waits = [self.wait("@flood:t", ["!r:t"]) for _ in range(5000)]
        other = self.wait("@quiet:t", ["!r:t"])
        # Only the three newest of the 5,000 still wait; the rest were answered as on a timeout.
        for d in waits[:-3]:
            self.assertFalse(self.successResultOf(d))
        for d in waits[-3:]:
            self.assertNoResult(d)
        self.assertEqual(self.notifier.waiter_count(), 4)
        self.notifier.on_new_event("!r:t")
        for d in [*waits[-3:], other]:
            self.assertTrue(self.successResultOf(d))
        self.assertEqual(self.notifier.waiter_count(), 0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])  # no timer left behind

    def test_another_users_waits_are_untouched(self) -> None:
        quiet = [self.wait("@quiet:t") for _ in range(3)]
        for _ in range(10):
            self.wait("@flood:t")
        for d in quiet:
            self.assertNoResult(d)

    def test_a_cancelled_wait_leaves_nothing_behind(self) -> None:
        d = self.wait("@a:t", ["!r:t"])
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.notifier.waiter_count(), 0)
        self.assertEqual(self.notifier._by_room, {})
        self.assertEqual(self.reactor.getDelayedCalls(), [])
