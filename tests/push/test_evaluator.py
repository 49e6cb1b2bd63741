"""The push rule evaluator: each condition kind, globbing, and the predefined rules' intent."""

import math

from twisted.trial import unittest

from homeserver.push.evaluator import (
    PushContext,
    PushRuleEvaluator,
    compile_condition,
    glob_matches,
    lookup,
    summarize,
)
from homeserver.push.rules import PredefinedOverride, UserRule, UserRules, evaluation_rules, merged_ruleset
from homeserver.util.dotted_paths import split_dotted_path

ME = "@alice:example.org"
OTHER = "@bob:example.org"
ROOM = "!room:example.org"


def message(body="hello", sender=OTHER, **content):
    return {"type": "m.room.message", "sender": sender, "room_id": ROOM, "event_id": "$e",
            "content": {"msgtype": "m.text", "body": body, **content}}


def ctx(member_count=5, **kwargs):
    return PushContext(user_id=ME, member_count=member_count, **kwargs)


def holds(cond, event, context=None):
    return compile_condition(cond)(event, context or ctx())


def default_evaluator(rules=None):
    return PushRuleEvaluator(evaluation_rules(merged_ruleset(ME, rules or UserRules())))


class KeyTests(unittest.TestCase):
    def test_split_key_escapes(self):
        self.assertEqual(split_dotted_path("content.body"), ("content", "body"))
        self.assertEqual(split_dotted_path("content.m\\.relates_to.rel_type"), ("content", "m.relates_to", "rel_type"))
        self.assertEqual(split_dotted_path("content.m\\\\foo"), ("content", "m\\foo"))
        self.assertEqual(split_dotted_path("content.m\\xfoo"), ("content", "m\\xfoo"))  # other escapes kept

    def test_lookup(self):
        event = {"content": {"m.relates_to": {"rel_type": "m.replace"}, "a": {"b": 1}}}
        self.assertEqual(lookup(event, "content.m\\.relates_to.rel_type"), "m.replace")
        self.assertEqual(lookup(event, "content.a.b"), 1)
        self.assertNotEqual(lookup(event, "content.a.c"), None)  # absent is not null


class GlobTests(unittest.TestCase):
    def test_whole_value(self):
        self.assertTrue(glob_matches("lunc?*", "Lunch plans"))
        self.assertTrue(glob_matches("lunc?*", "LUNCH"))
        self.assertFalse(glob_matches("lunc?*", " lunch"))
        self.assertFalse(glob_matches("lunc?*", "lunc"))
        self.assertTrue(glob_matches("m.notice", "m.notice"))
        self.assertFalse(glob_matches("m.notice", "mxnotice"))  # `.` is literal
        self.assertFalse(glob_matches("m.room", "m.room.message"))
        self.assertTrue(glob_matches("*", ""))
        self.assertTrue(glob_matches("a*b", "a\nb"))
        self.assertFalse(glob_matches("[ab]", "a"))  # no character classes: literal brackets
        self.assertTrue(glob_matches("[ab]", "[ab]"))

    def test_words(self):
        self.assertTrue(glob_matches("ex*ple", "An example event.", words=True))
        self.assertTrue(glob_matches("ex*ple", "exple", words=True))
        self.assertTrue(glob_matches("ex*ple", "An exciting triple-whammy", words=True))
        self.assertFalse(glob_matches("cake", "pancakes", words=True))
        self.assertTrue(glob_matches("cake", "I like CAKE!", words=True))
        self.assertFalse(glob_matches("cake", "cake_time", words=True))  # `_` is a word character


class ConditionTests(unittest.TestCase):
    def test_event_match(self):
        event = {"type": "m.room.topic", "state_key": "", "content": {"topic": "Lunch plans", "n": None, "i": 1}}
        self.assertTrue(holds({"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}, event))
        self.assertFalse(holds({"kind": "event_match", "key": "content.missing", "pattern": "*"}, event))
        self.assertFalse(holds({"kind": "event_match", "key": "content.n", "pattern": "*"}, event))
        self.assertFalse(holds({"kind": "event_match", "key": "content.i", "pattern": "*"}, event))
        self.assertTrue(holds({"kind": "event_match", "key": "state_key", "pattern": ""}, event))
        self.assertFalse(holds({"kind": "event_match", "key": "content.topic"}, event))  # malformed

    def test_event_match_body_is_word_based(self):
        cond = {"kind": "event_match", "key": "content.body", "pattern": "beer"}
        self.assertTrue(holds(cond, message("time for a beer!")))
        self.assertFalse(holds(cond, message("beers")))

    def test_event_property_is(self):
        event = {"content": {"m.federate": True, "s": "true", "one": 1, "n": None, "d": {}}}
        cond = {"kind": "event_property_is", "key": "content.m\\.federate", "value": True}
        self.assertTrue(holds(cond, event))
        self.assertFalse(holds({**cond, "key": "content.s"}, event))  # no casting
        self.assertFalse(holds({**cond, "key": "content.one"}, event))
        self.assertTrue(holds({"kind": "event_property_is", "key": "content.one", "value": 1}, event))
        self.assertFalse(holds({"kind": "event_property_is", "key": "content.one", "value": True}, event))
        self.assertTrue(holds({"kind": "event_property_is", "key": "content.n", "value": None}, event))
        self.assertFalse(holds({"kind": "event_property_is", "key": "content.absent", "value": None}, event))
        self.assertFalse(holds({"kind": "event_property_is", "key": "content.d", "value": {}}, event))

    def test_event_property_contains(self):
        event = {"content": {"alt_aliases": ["#somewhere:example.org", "#myroom:example.com", 1, True, {}]}}
        cond = {"kind": "event_property_contains", "key": "content.alt_aliases", "value": "#myroom:example.com"}
        self.assertTrue(holds(cond, event))
        self.assertFalse(holds({**cond, "value": ":example.com"}, event))
        self.assertTrue(holds({**cond, "value": 1}, event))
        self.assertTrue(holds({**cond, "value": True}, event))
        self.assertFalse(holds({**cond, "key": "content"}, event))  # not an array

    def test_contains_display_name(self):
        cond = {"kind": "contains_display_name"}
        self.assertTrue(holds(cond, message("hi Alice Smith!"), ctx(display_name="alice smith")))
        self.assertFalse(holds(cond, message("hi Alice Smithers"), ctx(display_name="alice smith")))
        self.assertFalse(holds(cond, message("hi"), ctx(display_name=None)))
        self.assertTrue(holds(cond, message("(a.b) said"), ctx(display_name="(a.b)")))  # not a regex

    def test_room_member_count(self):
        for spec, count, expected in [("2", 2, True), ("2", 3, False), ("==2", 2, True), ("<10", 9, True),
                                      ("<10", 10, False), (">2", 3, True), (">2", 2, False),
                                      ("<=10", 10, True), (">=3", 2, False), ("x2", 2, False), ("", 0, False)]:
            self.assertEqual(holds({"kind": "room_member_count", "is": spec}, message(), ctx(count)), expected,
                             (spec, count))

    def test_sender_notification_permission(self):
        cond = {"kind": "sender_notification_permission", "key": "room"}
        self.assertTrue(holds(cond, message(), ctx(sender_power_level=50)))
        self.assertFalse(holds(cond, message(), ctx(sender_power_level=49)))
        self.assertTrue(holds(cond, message(), ctx(sender_power_level=0, notification_levels={"room": 0})))
        self.assertTrue(holds(cond, message(), ctx(sender_power_level=math.inf)))
        self.assertFalse(holds(cond, message(), ctx(sender_power_level=10, notification_levels={"room": "20"})))

    def test_unknown_condition_never_matches(self):
        self.assertFalse(holds({"kind": "org.example.something"}, message()))
        self.assertFalse(holds({}, message()))
        rules = [{"rule_id": "x", "enabled": True, "conditions": [{"kind": "nope"}], "actions": ["notify"]}]
        self.assertIsNone(PushRuleEvaluator(rules).evaluate(message(), ctx()))


class PredefinedRuleTests(unittest.TestCase):
    def assertRule(self, event, rule_id, context=None, rules=None):
        rule = default_evaluator(rules).matching_rule(event, context or ctx())
        self.assertEqual(rule.rule_id if rule else None, rule_id)

    def test_plain_message_notifies(self):
        self.assertRule(message(), ".m.rule.message")
        n = default_evaluator().notification(message(), ctx())
        self.assertEqual((n.notify, n.highlight, n.sound), (True, False, None))

    def test_one_to_one(self):
        self.assertRule(message(), ".m.rule.room_one_to_one", ctx(2))
        n = default_evaluator().notification(message(), ctx(2))
        self.assertEqual((n.notify, n.highlight, n.sound), (True, False, "default"))
        encrypted = {"type": "m.room.encrypted", "sender": OTHER, "content": {"ciphertext": "x"}}
        self.assertRule(encrypted, ".m.rule.encrypted_room_one_to_one", ctx(2))
        self.assertRule(encrypted, ".m.rule.encrypted", ctx(3))

    def test_user_mention_highlights(self):
        event = message("hey", **{"m.mentions": {"user_ids": [ME]}})
        self.assertRule(event, ".m.rule.is_user_mention")
        n = default_evaluator().notification(event, ctx())
        self.assertEqual((n.notify, n.highlight, n.sound), (True, True, "default"))
        self.assertRule(message("hey", **{"m.mentions": {"user_ids": [OTHER]}}), ".m.rule.message")
        # Body-only mentions no longer highlight (legacy rules removed in v1.17).
        self.assertRule(message(f"hey {ME} alice"), ".m.rule.message", ctx(display_name="alice"))

    def test_room_mention_needs_power(self):
        event = message("all", **{"m.mentions": {"room": True}})
        self.assertRule(event, ".m.rule.is_room_mention", ctx(sender_power_level=50))
        self.assertRule(event, ".m.rule.message", ctx(sender_power_level=0))
        self.assertRule(event, ".m.rule.is_room_mention",
                        ctx(sender_power_level=0, notification_levels={"room": 0}))
        self.assertTrue(default_evaluator().notification(event, ctx(sender_power_level=100)).highlight)

    def test_notices_suppressed(self):
        event = message("bot", msgtype="m.notice")
        self.assertRule(event, ".m.rule.suppress_notices")
        self.assertFalse(default_evaluator().notification(event, ctx(2)).notify)

    def test_edits_suppressed(self):
        event = message("* fixed", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
                                      "m.new_content": {"body": "fixed"}})
        self.assertRule(event, ".m.rule.suppress_edits")
        self.assertFalse(default_evaluator().notification(event, ctx(2)).notify)

    def test_reactions_suppressed(self):
        event = {"type": "m.reaction", "sender": OTHER,
                 "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "👍"}}}
        self.assertRule(event, ".m.rule.reaction")
        self.assertFalse(default_evaluator().notification(event, ctx(2)).notify)

    def test_invites_and_members(self):
        invite = {"type": "m.room.member", "sender": OTHER, "state_key": ME, "content": {"membership": "invite"}}
        self.assertRule(invite, ".m.rule.invite_for_me")
        self.assertTrue(default_evaluator().notification(invite, ctx()).notify)
        other_invite = {**invite, "state_key": "@carol:example.org"}
        self.assertRule(other_invite, ".m.rule.member_event")
        self.assertFalse(default_evaluator().notification(other_invite, ctx()).notify)

    def test_tombstone_and_server_acl(self):
        tombstone = {"type": "m.room.tombstone", "sender": OTHER, "state_key": "",
                     "content": {"body": "moved", "replacement_room": "!new:x"}}
        self.assertRule(tombstone, ".m.rule.tombstone")
        self.assertTrue(default_evaluator().notification(tombstone, ctx()).highlight)
        self.assertRule({**tombstone, "state_key": "x"}, None)  # not a state event with the empty key
        acl = {"type": "m.room.server_acl", "sender": OTHER, "state_key": "", "content": {"allow": ["*"]}}
        self.assertRule(acl, ".m.rule.room.server_acl")

    def test_call(self):
        call = {"type": "m.call.invite", "sender": OTHER, "content": {"call_id": "1"}}
        n = default_evaluator().notification(call, ctx())
        self.assertEqual((n.notify, n.sound), (True, "ring"))

    def test_no_match_and_own_events(self):
        self.assertRule({"type": "m.room.topic", "sender": OTHER, "state_key": "", "content": {"topic": "t"}}, None)
        self.assertFalse(default_evaluator().notification(message(sender=ME), ctx(2)).notify)

    def test_master_rule(self):
        rules = UserRules()
        rules.overrides[".m.rule.master"] = PredefinedOverride(enabled=True)
        self.assertRule(message(), ".m.rule.master", rules=rules)
        self.assertFalse(default_evaluator(rules).notification(message(), ctx()).notify)

    def test_disabled_rule_skipped_and_overridden_actions(self):
        rules = UserRules()
        rules.overrides[".m.rule.suppress_notices"] = PredefinedOverride(enabled=False)
        rules.overrides[".m.rule.message"] = PredefinedOverride(actions=["notify", {"set_tweak": "sound",
                                                                                 "value": "bing"}])
        self.assertRule(message("x", msgtype="m.notice"), ".m.rule.message", rules=rules)
        self.assertEqual(default_evaluator(rules).notification(message(), ctx()).sound, "bing")


class UserRuleTests(unittest.TestCase):
    def test_order_of_kinds(self):
        rules = UserRules()
        rules.custom["content"] = [UserRule("content", "cake", ["notify", {"set_tweak": "highlight"}],
                                            pattern="cake")]
        rules.custom["room"] = [UserRule("room", ROOM, [])]
        rules.custom["sender"] = [UserRule("sender", OTHER, ["notify"])]
        rules.custom["override"] = [UserRule("override", "beer", ["notify"], conditions=[
            {"kind": "event_match", "key": "content.body", "pattern": "beer"}])]
        ev = default_evaluator(rules)
        self.assertEqual(ev.matching_rule(message("cake and beer"), ctx()).rule_id, "beer")
        self.assertEqual(ev.matching_rule(message("cake"), ctx()).rule_id, "cake")
        self.assertEqual(ev.matching_rule(message("hello"), ctx()).rule_id, ROOM)
        self.assertEqual(ev.matching_rule({**message("hello"), "room_id": "!other:x"}, ctx()).rule_id, OTHER)
        # a user override comes before the predefined overrides, but after .m.rule.master
        self.assertEqual(ev.matching_rule(message("beer", msgtype="m.notice"), ctx()).rule_id, "beer")
        ruleset = merged_ruleset(ME, rules)
        self.assertEqual([r["rule_id"] for r in ruleset["override"]][:3],
                         [".m.rule.master", "beer", ".m.rule.suppress_notices"])

    def test_user_underride_before_defaults(self):
        rules = UserRules()
        rules.custom["underride"] = [UserRule("underride", "quiet", [], conditions=[])]
        self.assertIsNotNone(default_evaluator(rules).evaluate(message(), ctx()))
        self.assertFalse(default_evaluator(rules).notification(message(), ctx()).notify)

    def test_historical_actions_ignored(self):
        self.assertEqual(summarize(["dont_notify"]).notify, False)
        rules = [{"rule_id": "x", "enabled": True, "conditions": [], "actions": ["dont_notify", "coalesce"]}]
        self.assertEqual(PushRuleEvaluator(rules).evaluate(message(), ctx()), [])

    def test_highlight_tweak_values(self):
        self.assertTrue(summarize(["notify", {"set_tweak": "highlight"}]).highlight)
        self.assertTrue(summarize(["notify", {"set_tweak": "highlight", "value": True}]).highlight)
        self.assertFalse(summarize(["notify", {"set_tweak": "highlight", "value": False}]).highlight)
        self.assertFalse(summarize(["notify"]).highlight)
