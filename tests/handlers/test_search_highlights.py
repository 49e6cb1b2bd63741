"""Search highlighting and query parsing stay linear and bounded on what a user types and
sends: a query of 100,000 words, messages of 64 KiB of distinct words."""

from __future__ import annotations

from twisted.trial import unittest

from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.handlers.search import (
    MAX_HIGHLIGHTS,
    MAX_QUERY_WORDS,
    MAX_WORD_LENGTH,
    SearchHandler,
    parse_search_term,
)


def message(body: str) -> Event:
    pdu = {"type": "m.room.message", "room_id": "!r:test", "sender": "@a:test", "content": {"body": body},
           "depth": 1, "origin_server_ts": 0, "prev_events": [], "auth_events": [], "hashes": {}, "signatures": {}}
    return Event(pdu, KNOWN_ROOM_VERSIONS["10"], "$e", None)


class QueryBoundsTests(unittest.TestCase):
    timeout = 60  # a guard: the old code took hours here; nothing asserts on time

    def test_phrases_and_words_are_capped(self) -> None:
        query = parse_search_term('"' + "a " * 100_000 + '" ' + " ".join(f"w{i}" for i in range(1000))
                                  + " " + "x" * 10_000)
        self.assertTrue(all(len(p) <= MAX_QUERY_WORDS for p in query.phrases))
        self.assertEqual(len(query.words), MAX_QUERY_WORDS)
        self.assertTrue(all(len(w) <= MAX_WORD_LENGTH for w in query.words))

    def test_highlights_same_answers_as_before(self) -> None:
        query = parse_search_term('run "big cat"')
        events = [message("Running runners ran; the bigger cats ca run big"), message("nothing")]
        # prefixes of the results' words ("running" for "run"), words of 3+ letters that start
        # a query word ("cat" is wanted, "ca" too short), the query's own words
        self.assertEqual(SearchHandler._highlights(query, events),
                         ["big", "bigger", "cat", "cats", "run", "runners", "running"])

    def test_highlights_of_big_inputs_are_bounded(self) -> None:
        words = [f"w{i}x" for i in range(12_000)]
        query = parse_search_term('"' + " ".join(words[:5000]) + '" ' + " ".join(words[:5000]))
        events = [message(" ".join(words)) for _ in range(100)]
        highlights = SearchHandler._highlights(query, events)
        self.assertLessEqual(len(highlights), MAX_HIGHLIGHTS)
        self.assertIn("w0x", highlights)
