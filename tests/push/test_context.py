"""push_context: the recipient's display name, member count and the sender's power from room state."""

import math

from twisted.trial import unittest

from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.push.context import push_context
from homeserver.push.evaluator import PushRuleEvaluator
from homeserver.push.rules import UserRules, evaluation_rules, merged_ruleset

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
CAROL = "@carol:example.org"


def state(version, notifications=None):
    rv = KNOWN_ROOM_VERSIONS[version]

    def ev(event_type, state_key, sender, content):
        pdu = {"type": event_type, "state_key": state_key, "sender": sender, "content": content,
               "room_id": "!r:example.org"}
        return Event(pdu, rv, f"${event_type}{state_key}")

    pl = {"users": {ALICE: 100, BOB: 50}}
    if notifications is not None:
        pl["notifications"] = notifications
    events = [
        ev("m.room.create", "", ALICE, {"creator": ALICE, "room_version": version}),
        ev("m.room.power_levels", "", ALICE, pl),
        ev("m.room.member", ALICE, ALICE, {"membership": "join", "displayname": "Alice A"}),
        ev("m.room.member", BOB, BOB, {"membership": "join"}),
        ev("m.room.member", CAROL, CAROL, {"membership": "invite"}),
    ]
    return {(e.type, e.state_key): e for e in events}


class PushContextTest(unittest.TestCase):
    def test_context_from_state(self):
        ctx = push_context(BOB, ALICE, state("10"))
        self.assertEqual((ctx.user_id, ctx.member_count, ctx.display_name, ctx.sender_power_level),
                         (BOB, 2, None, 100))
        ctx = push_context(ALICE, BOB, state("10", {"room": 75}), member_count=7)
        self.assertEqual((ctx.member_count, ctx.display_name, ctx.sender_power_level, ctx.notification_levels),
                         (7, "Alice A", 50, {"room": 75}))
        self.assertEqual(push_context(BOB, ALICE, state("12")).sender_power_level, math.inf)
        self.assertEqual(push_context(ALICE, CAROL, state("12")).sender_power_level, 0)

    def test_room_mention_uses_levels(self):
        evaluator = PushRuleEvaluator(evaluation_rules(merged_ruleset(ALICE, UserRules())))
        event = {"type": "m.room.message", "sender": BOB,
                 "content": {"msgtype": "m.text", "body": "all", "m.mentions": {"room": True}}}
        self.assertTrue(evaluator.notification(event, push_context(ALICE, BOB, state("10"))).highlight)
        self.assertFalse(evaluator.notification(event, push_context(ALICE, BOB, state("10", {"room": 51}))).highlight)
