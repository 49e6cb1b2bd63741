"""Authorisation rules (homeserver.events.auth), table-driven: each row is
(description, room versions, room state, event, allowed?) and runs once per listed room version."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from signedjson.key import generate_signing_key
from signedjson.sign import sign_json
from twisted.trial import unittest
from unpaddedbase64 import encode_base64

from homeserver.events.auth import (
    CREATE,
    AuthError,
    AuthEvents,
    auth_types_for_event,
    check_auth,
    check_auth_event_list,
    get_user_power_level,
    is_creator,
)
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion

ALICE = "@alice:example.org"  # creates the room; level 100 (v12: a creator, infinite)
BOB = "@bob:example.org"  # joined, level 50
CAROL = "@carol:example.org"  # joined, level 0
DAVE = "@dave:other.org"  # not in the room
EVE = "@eve:example.org"  # not in the room unless a row says so

ALL = tuple(KNOWN_ROOM_VERSIONS)


def since(n: int) -> tuple[str, ...]:
    return tuple(v for v in ALL if int(v) >= n)


def until(n: int) -> tuple[str, ...]:
    return tuple(v for v in ALL if int(v) <= n)


def event_id(rv: RoomVersion, name: str) -> str:
    # Rooms v1-2 carry event IDs with the origin's domain; later ones are hashes (any opaque string here).
    return f"${name}:example.org" if rv.event_format is EventFormat.V1 else f"${name}"


def room_id(rv: RoomVersion) -> str:
    return "!" + event_id(rv, "create")[1:] if rv.room_id_from_create_event else "!room:example.org"


def _ref(rv: RoomVersion, name: str) -> Any:
    return [event_id(rv, name), {}] if rv.event_format is EventFormat.V1 else event_id(rv, name)


_DROP = object()  # in E.extra: remove this key from the PDU


@dataclass
class E:
    """An event to build for a given room version."""

    type: str
    sender: str
    content: dict[str, Any] = field(default_factory=dict)
    state_key: str | None = None
    name: str = "ev"
    prev: tuple[str, ...] = ("prev",)
    extra: dict[str, Any] = field(default_factory=dict)  # top-level PDU keys to set (or _DROP)
    keep_creator: bool = False  # power levels: add Alice's 100 to `users` (not a v12 creator level)

    def build(self, rv: RoomVersion) -> Event:
        pdu: dict[str, Any] = {
            "type": self.type, "sender": self.sender, "content": dict(self.content),
            "room_id": room_id(rv), "prev_events": [_ref(rv, p) for p in self.prev], "auth_events": [],
            "depth": 5, "origin_server_ts": 0, "hashes": {},
            "signatures": {self.sender.partition(":")[2]: {"ed25519:a": "sig"}},
        }
        if self.type == "m.room.create":
            pdu["prev_events"] = []
            if rv.room_id_from_create_event:
                del pdu["room_id"]
        if self.state_key is not None:
            pdu["state_key"] = self.state_key
        users = pdu["content"].get("users")
        if self.keep_creator and not rv.privileged_creators and isinstance(users, dict):
            pdu["content"]["users"] = {ALICE: 100, **users}
        for key, value in self.extra.items():
            if value is _DROP:
                pdu.pop(key, None)
            else:
                pdu[key] = value
        return Event(pdu, rv, event_id(rv, self.name))


def ev(type: str, sender: str, content: dict[str, Any] | None = None, state_key: str | None = None,
       **extra: Any) -> E:
    return E(type, sender, content or {}, state_key, extra=extra)


def member(sender: str, target: str, membership: str, **content: Any) -> E:
    return E("m.room.member", sender, {"membership": membership, **content}, target)


def redaction(sender: str, redacts: str) -> E:
    # Top-level before v11, in content from v11 (Event.redacts reads the right one).
    return E("m.room.redaction", sender, {"redacts": redacts}, extra={"redacts": redacts})


@dataclass
class S:
    """A room state: create by Alice, Alice joined, power levels, join rules, other members."""

    join_rule: str | None = "public"
    members: dict[str, str] = field(default_factory=lambda: {BOB: "join", CAROL: "join"})
    # Merged into the default power levels (`users` too: Alice 100, Bob 50); None: no such event.
    power: dict[str, Any] | None = field(default_factory=dict)
    create: dict[str, Any] = field(default_factory=dict)  # merged into the create content
    extra: list[E] = field(default_factory=list)
    only_create: bool = False

    def build(self, rv: RoomVersion) -> AuthEvents:
        create_content: dict[str, Any] = {"room_version": rv.identifier}
        if not rv.implicit_room_creator:
            create_content["creator"] = ALICE
        create_content.update(self.create)
        create = E("m.room.create", ALICE, create_content, "", name="create").build(rv)
        state: AuthEvents = {CREATE: create}
        if self.only_create:
            return state
        events = [member(ALICE, ALICE, "join")]
        for user, membership in self.members.items():
            events.append(member(user if membership in ("join", "leave", "knock") else ALICE, user, membership))
        if self.power is not None:
            creators = {ALICE, *self.create.get("additional_creators", [])} if rv.privileged_creators else set()
            users = {ALICE: 100, BOB: 50, **self.power.get("users", {})}
            users = {u: lv for u, lv in users.items() if u not in creators}
            events.append(E("m.room.power_levels", ALICE, {**self.power, "users": users}, ""))
        if self.join_rule is not None:
            events.append(E("m.room.join_rules", ALICE, {"join_rule": self.join_rule}, ""))
        for i, spec in enumerate(events + self.extra):
            built = E(spec.type, spec.sender, spec.content, spec.state_key, name=f"s{i}", extra=spec.extra).build(rv)
            state[built.state_tuple] = built
        return state


Row = tuple[str, tuple[str, ...], S, E, bool]


class TableTest(unittest.TestCase):
    def run_table(self, rows: list[Row]) -> None:
        failures = []
        for description, versions, state, event, allowed in rows:
            for version in versions:
                rv = KNOWN_ROOM_VERSIONS[version]
                try:
                    check_auth(event.build(rv), state.build(rv))
                    outcome = "allowed"
                except AuthError as e:
                    outcome = f"rejected ({e.reason})"
                if outcome.startswith("allowed") != allowed:
                    failures.append(f"v{version} {description}: expected {'allowed' if allowed else 'rejected'},"
                                    f" got {outcome}")
        if failures:
            self.fail("\n".join(failures))


class CreateTests(TableTest):
    def create(self, content: dict[str, Any], **extra: Any) -> E:
        return E("m.room.create", ALICE, content, "", name="create", extra=extra)

    def test_create(self) -> None:
        s = S()
        c = self.create
        self.run_table([
            ("creator and room version", ALL, s, c({"creator": ALICE, "room_version": "10"}), True),
            ("no room_version means v1", ALL, s, c({"creator": ALICE}), True),
            ("has prev_events", ALL, s, c({"creator": ALICE}, prev_events=["$x"]), False),
            ("unknown room version", ALL, s, c({"creator": ALICE, "room_version": "99"}), False),
            ("room version not a string", ALL, s, c({"creator": ALICE, "room_version": 10}), False),
            ("no creator (needed before v11)", until(10), s, c({}), False),
            ("no creator (v11: sender is creator)", since(11), s, c({}), True),
            ("room ID on another server", until(11), s, c({"creator": ALICE}, room_id="!r:other.org"), False),
            ("v12: any room_id at all", since(12), s, c({}, room_id="!create"), False),
            ("v12: additional_creators list", since(12), s, c({"additional_creators": [BOB, DAVE]}), True),
            ("v12: historical user ID creator", since(12), s, c({"additional_creators": ["@Ü:x.org"]}), True),
            ("v12: additional_creators not a list", since(12), s, c({"additional_creators": BOB}), False),
            ("v12: additional_creators not user IDs", since(12), s, c({"additional_creators": ["bob"]}), False),
            ("v12: additional_creators with a number", since(12), s, c({"additional_creators": [1]}), False),
            ("v11: additional_creators not checked", ("11",), s, c({"additional_creators": 5}), True),
        ])


class RoomChecksTests(TableTest):
    def test_room_checks(self) -> None:
        msg = ev("m.room.message", CAROL, {"body": "hi"})
        nofed = S(create={"m.federate": False}, members={CAROL: "join", DAVE: "join"})
        self.run_table([
            ("message from a member", ALL, S(), msg, True),
            ("m.federate false, same server", ALL, nofed, msg, True),
            ("m.federate false, other server", ALL, nofed, ev("m.room.message", DAVE, {}), False),
            ("m.federate true, other server", ALL, S(create={"m.federate": True}, members={DAVE: "join"}),
             ev("m.room.message", DAVE, {}), True),
            ("event in another room", ALL, S(), ev("m.room.message", CAROL, {}, room_id="!elsewhere:x.org"), False),
            ("auth event from another room", ALL, S(extra=[E("m.room.member", CAROL, {"membership": "join"}, CAROL,
                                                             extra={"room_id": "!elsewhere:x.org"})]),
             ev("m.room.message", CAROL), False),
        ])

    def test_missing_create(self) -> None:
        rv = KNOWN_ROOM_VERSIONS["11"]
        state = S().build(rv)
        del state[CREATE]
        self.assertRaises(AuthError, check_auth, ev("m.room.message", CAROL).build(rv), state)

    def test_v12_rejected_create(self) -> None:
        rv = KNOWN_ROOM_VERSIONS["12"]
        state = S().build(rv)
        state[CREATE].internal["rejected"] = "bad"
        self.assertRaises(AuthError, check_auth, ev("m.room.message", CAROL).build(rv), state)

    def test_auth_event_list(self) -> None:
        for version in ALL:
            rv = KNOWN_ROOM_VERSIONS[version]
            state = S().build(rv)
            event = ev("m.room.message", CAROL).build(rv)
            wanted = auth_types_for_event(event.type, event.sender, event.state_key, event.content, rv)
            chosen = [state[k] for k in sorted(wanted)]
            self.assertEqual(set(check_auth_event_list(event, chosen)), wanted)
            if rv.room_id_from_create_event:  # v12 rule 3.2: the create event must not be selected
                self.assertRaises(AuthError, check_auth_event_list, event, [*chosen, state[CREATE]])
            else:  # v1-11 rule 2.4: it must be
                self.assertRaises(AuthError, check_auth_event_list, event,
                                  [e for e in chosen if e.type != "m.room.create"])
            self.assertRaises(AuthError, check_auth_event_list, event, [*chosen, chosen[0]])  # duplicate
            extra = state[("m.room.join_rules", "")]  # not selected for a message
            self.assertRaises(AuthError, check_auth_event_list, event, [*chosen, extra])
            chosen[0].internal["rejected"] = "yes"
            self.assertRaises(AuthError, check_auth_event_list, event, chosen)


class AuthTypesTests(unittest.TestCase):
    def test_selection(self) -> None:
        v11, v12 = KNOWN_ROOM_VERSIONS["11"], KNOWN_ROOM_VERSIONS["12"]
        member_key = ("m.room.member", BOB)
        base = {("m.room.power_levels", ""), ("m.room.member", BOB)}
        self.assertEqual(auth_types_for_event("m.room.create", ALICE, "", {}, v11), set())
        self.assertEqual(auth_types_for_event("m.room.message", BOB, None, {}, v11), base | {CREATE})
        self.assertEqual(auth_types_for_event("m.room.message", BOB, None, {}, v12), base)
        join = {"membership": "join", "join_authorised_via_users_server": CAROL}
        self.assertEqual(auth_types_for_event("m.room.member", BOB, BOB, join, v12),
                         base | {member_key, ("m.room.join_rules", ""), ("m.room.member", CAROL)})
        self.assertNotIn(("m.room.member", CAROL),
                         auth_types_for_event("m.room.member", BOB, BOB, join, KNOWN_ROOM_VERSIONS["7"]))
        invite = {"membership": "invite", "third_party_invite": {"signed": {"mxid": DAVE, "token": "t"}}}
        self.assertEqual(auth_types_for_event("m.room.member", BOB, DAVE, invite, v11),
                         base | {CREATE, ("m.room.member", DAVE), ("m.room.join_rules", ""),
                                 ("m.room.third_party_invite", "t")})
        leave = {"membership": "leave"}
        self.assertEqual(auth_types_for_event("m.room.member", BOB, CAROL, leave, v11),
                         base | {CREATE, ("m.room.member", CAROL)})
        knock = {"membership": "knock"}
        self.assertIn(("m.room.join_rules", ""), auth_types_for_event("m.room.member", DAVE, DAVE, knock, v11))


def _restricted_join(authoriser: str, signed_by: str | None = None, user: str = DAVE) -> E:
    e = member(user, user, "join", join_authorised_via_users_server=authoriser)
    signatures = {user.partition(":")[2]: {"ed25519:a": "s"}}
    if signed_by:
        signatures[signed_by] = {"ed25519:b": "s"}
    e.extra["signatures"] = signatures
    return e


class JoinTests(TableTest):
    def test_join(self) -> None:
        first = member(ALICE, ALICE, "join")
        first.prev = ("create",)
        not_first = member(ALICE, ALICE, "join")
        bob_first = member(BOB, BOB, "join")
        bob_first.prev = ("create",)
        invited = {DAVE: "invite"}
        self.run_table([
            ("creator's first join", ALL, S(only_create=True), first, True),
            ("creator's join not right after create", ALL, S(only_create=True), not_first, False),
            ("someone else's first join", ALL, S(only_create=True), bob_first, False),
            ("public room", ALL, S(), member(DAVE, DAVE, "join"), True),
            ("joining someone else", ALL, S(), member(BOB, DAVE, "join"), False),
            ("banned user, public room", ALL, S(members={DAVE: "ban"}), member(DAVE, DAVE, "join"), False),
            ("invite room, invited", ALL, S("invite", invited), member(DAVE, DAVE, "join"), True),
            ("invite room, not invited", ALL, S("invite"), member(DAVE, DAVE, "join"), False),
            ("invite room, already joined (profile change)", ALL, S("invite"), member(BOB, BOB, "join"), True),
            ("invite room, left before", ALL, S("invite", {DAVE: "leave"}), member(DAVE, DAVE, "join"), False),
            ("no join rules event counts as invite", ALL, S(None), member(DAVE, DAVE, "join"), False),
            ("no join rules event, invited", ALL, S(None, invited), member(DAVE, DAVE, "join"), True),
            ("private join rule", ALL, S("private"), member(DAVE, DAVE, "join"), False),
            ("unknown join rule", ALL, S("whatever", invited), member(DAVE, DAVE, "join"), False),
            ("knock room, invited", since(7), S("knock", invited), member(DAVE, DAVE, "join"), True),
            ("knock room, not invited", since(7), S("knock"), member(DAVE, DAVE, "join"), False),
            ("knock rule unknown before v7", until(6), S("knock", invited), member(DAVE, DAVE, "join"), False),
        ])

    def test_restricted(self) -> None:
        by_bob = _restricted_join(BOB, "example.org")
        rows: list[Row] = []
        for rule, versions in (("restricted", since(8)), ("knock_restricted", since(10))):
            rows += [
                (f"{rule}: authorised by a joined member who may invite", versions, S(rule), by_bob, True),
                (f"{rule}: invited", versions, S(rule, {DAVE: "invite"}), member(DAVE, DAVE, "join"), True),
                (f"{rule}: already joined", versions, S(rule), member(BOB, BOB, "join"), True),
                (f"{rule}: no authoriser", versions, S(rule), member(DAVE, DAVE, "join"), False),
                (f"{rule}: authoriser's server did not sign", versions, S(rule), _restricted_join(BOB), False),
                (f"{rule}: authoriser not joined", versions, S(rule, {BOB: "leave"}), by_bob, False),
                (f"{rule}: authoriser not in room", versions, S(rule),
                 _restricted_join(EVE, "example.org"), False),
                (f"{rule}: authoriser below invite level", versions, S(rule, power={"invite": 60}), by_bob, False),
                (f"{rule}: authoriser at invite level", versions, S(rule, power={"invite": 50}), by_bob, True),
                (f"{rule}: authoriser not a user ID", versions, S(rule), _restricted_join("bob", "bob"), False),
                (f"{rule}: banned", versions, S(rule, {DAVE: "ban"}), by_bob, False),
            ]
        rows += [
            ("restricted unknown before v8", until(7), S("restricted"), by_bob, False),
            ("knock_restricted unknown before v10", until(9), S("knock_restricted"), by_bob, False),
            ("before v8 the authoriser key means nothing", until(7), S("public"), _restricted_join(BOB), True),
            ("v8+: unsigned authoriser rejects even public joins", since(8), S("public"),
             _restricted_join(BOB), False),
        ]
        self.run_table(rows)


# A real third-party invite: an identity server key signs {mxid, token}.
_IS_KEY = generate_signing_key("0")
_IS_PUBLIC = encode_base64(_IS_KEY.verify_key.encode())
_OTHER_KEY = generate_signing_key("0")
_OTHER_PUBLIC = encode_base64(_OTHER_KEY.verify_key.encode())


def _signed(mxid: str = DAVE, token: str = "tok", key: Any = _IS_KEY) -> dict[str, Any]:
    return sign_json({"mxid": mxid, "token": token, "sender": BOB}, "id.example.org", key)


def _tpi_state(sender: str = BOB, members: dict[str, str] | None = None, **content: Any) -> S:
    token_content = {"display_name": "d...@e...", "key_validity_url": "https://id.example.org/isvalid",
                     **(content or {"public_key": _IS_PUBLIC})}
    return S("invite", members if members is not None else {BOB: "join", CAROL: "join"},
             extra=[E("m.room.third_party_invite", sender, token_content, "tok")])


def _tpi_invite(signed: Any, sender: str = BOB, target: str = DAVE) -> E:
    third_party_invite = {"display_name": "d...@e...", "signed": signed} if signed is not None else {}
    return member(sender, target, "invite", third_party_invite=third_party_invite)


class InviteTests(TableTest):
    def test_invite(self) -> None:
        self.run_table([
            ("member invites", ALL, S("invite"), member(BOB, DAVE, "invite"), True),
            ("level-0 member invites (invite level 0)", ALL, S("invite"), member(CAROL, DAVE, "invite"), True),
            ("non-member invites", ALL, S("invite"), member(EVE, DAVE, "invite"), False),
            ("invited user invites", ALL, S("invite", {EVE: "invite"}), member(EVE, DAVE, "invite"), False),
            ("inviting a joined user", ALL, S(), member(BOB, CAROL, "invite"), False),
            ("inviting a banned user", ALL, S(members={BOB: "join", DAVE: "ban"}),
             member(BOB, DAVE, "invite"), False),
            ("re-inviting an invited user", ALL, S(members={BOB: "join", DAVE: "invite"}),
             member(BOB, DAVE, "invite"), True),
            ("inviting a user who left", ALL, S(members={BOB: "join", DAVE: "leave"}),
             member(BOB, DAVE, "invite"), True),
            ("below the invite level", ALL, S(power={"invite": 60}), member(BOB, DAVE, "invite"), False),
            ("at the invite level", ALL, S(power={"invite": 50}), member(BOB, DAVE, "invite"), True),
            ("stringy invite level", until(9), S(power={"invite": "60"}), member(BOB, DAVE, "invite"), False),
        ])

    def test_third_party_invite(self) -> None:
        pk_list = {"public_keys": [{"public_key": _OTHER_PUBLIC}, {"public_key": _IS_PUBLIC}]}
        self.run_table([
            ("valid signed token", ALL, _tpi_state(), _tpi_invite(_signed()), True),
            ("valid, key in public_keys", ALL, _tpi_state(**pk_list), _tpi_invite(_signed()), True),
            ("signed by another key", ALL, _tpi_state(), _tpi_invite(_signed(key=_OTHER_KEY)), False),
            ("no key matches", ALL, _tpi_state(public_key=_OTHER_PUBLIC), _tpi_invite(_signed()), False),
            ("tampered mxid", ALL, _tpi_state(), _tpi_invite({**_signed(), "mxid": EVE}, target=EVE), False),
            ("mxid is not the target", ALL, _tpi_state(), _tpi_invite(_signed(), target=EVE), False),
            ("no signed", ALL, _tpi_state(), _tpi_invite(None), False),
            ("signed has no token", ALL, _tpi_state(), _tpi_invite({"mxid": DAVE}), False),
            ("no signatures", ALL, _tpi_state(), _tpi_invite({"mxid": DAVE, "token": "tok"}), False),
            ("no third-party invite event for the token", ALL, _tpi_state(),
             _tpi_invite(_signed(token="other")), False),
            ("token made by someone else", ALL, _tpi_state(sender=CAROL), _tpi_invite(_signed()), False),
            ("target banned", ALL, _tpi_state(members={BOB: "join", DAVE: "ban"}), _tpi_invite(_signed()), False),
            # Rule 5.4.1 allows before the "sender must be joined" rule 5.4.2.
            ("inviter no longer joined", ALL, _tpi_state(members={BOB: "leave"}), _tpi_invite(_signed()), True),
        ])


class LeaveTests(TableTest):
    def test_leave_and_kick(self) -> None:
        self.run_table([
            ("leaving", ALL, S(), member(CAROL, CAROL, "leave"), True),
            ("rejecting an invite", ALL, S(members={DAVE: "invite"}), member(DAVE, DAVE, "leave"), True),
            ("rescinding a knock", since(7), S("knock", {DAVE: "knock"}), member(DAVE, DAVE, "leave"), True),
            ("'knock' membership unknown before v7", until(6), S("knock", {DAVE: "knock"}),
             member(DAVE, DAVE, "leave"), False),
            ("leaving a room one is not in", ALL, S(), member(DAVE, DAVE, "leave"), False),
            ("leaving again", ALL, S(members={DAVE: "leave"}), member(DAVE, DAVE, "leave"), False),
            ("banned user leaves", ALL, S(members={DAVE: "ban"}), member(DAVE, DAVE, "leave"), False),
            ("kick by higher level", ALL, S(), member(BOB, CAROL, "leave"), True),
            ("kick by creator", ALL, S(), member(ALICE, BOB, "leave"), True),
            ("kick of higher level", ALL, S(), member(CAROL, BOB, "leave"), False),
            ("kick of the creator", ALL, S(), member(BOB, ALICE, "leave"), False),
            ("kick of equal level", ALL, S(power={"users_default": 50}), member(BOB, CAROL, "leave"), False),
            ("kick below the kick level", ALL, S(power={"kick": 60}), member(BOB, CAROL, "leave"), False),
            ("kick by a non-member", ALL, S(members={BOB: "leave", CAROL: "join"}),
             member(BOB, CAROL, "leave"), False),
            ("kick of an invited user", ALL, S(members={BOB: "join", DAVE: "invite"}),
             member(BOB, DAVE, "leave"), True),
            ("kick of a non-member", ALL, S(), member(BOB, DAVE, "leave"), True),
        ])

    def test_unban(self) -> None:
        banned = {BOB: "join", DAVE: "ban"}
        self.run_table([
            ("unban with ban and kick level", ALL, S(members=banned), member(BOB, DAVE, "leave"), True),
            ("unban below the ban level", ALL, S(members=banned, power={"ban": 60}),
             member(BOB, DAVE, "leave"), False),
            ("unban below the kick level", ALL, S(members=banned, power={"kick": 60}),
             member(BOB, DAVE, "leave"), False),
            ("unban by a level-0 member", ALL, S(members={CAROL: "join", DAVE: "ban"}),
             member(CAROL, DAVE, "leave"), False),
        ])


class BanTests(TableTest):
    def test_ban(self) -> None:
        self.run_table([
            ("ban by higher level", ALL, S(), member(BOB, CAROL, "ban"), True),
            ("ban of a non-member", ALL, S(), member(BOB, DAVE, "ban"), True),
            ("ban again", ALL, S(members={BOB: "join", DAVE: "ban"}), member(BOB, DAVE, "ban"), True),
            ("ban of higher level", ALL, S(), member(CAROL, BOB, "ban"), False),
            ("ban of equal level", ALL, S(power={"users_default": 50}), member(BOB, CAROL, "ban"), False),
            ("ban below the ban level", ALL, S(power={"ban": 51}), member(BOB, CAROL, "ban"), False),
            ("ban at a stringy ban level", until(9), S(power={"ban": "50"}), member(BOB, CAROL, "ban"), True),
            ("ban by a non-member", ALL, S(members={BOB: "invite", CAROL: "join"}),
             member(BOB, CAROL, "ban"), False),
            ("self-ban", ALL, S(), member(BOB, BOB, "ban"), False),
        ])


class KnockTests(TableTest):
    def test_knock(self) -> None:
        knock = member(DAVE, DAVE, "knock")
        self.run_table([
            ("knock room", since(7), S("knock"), knock, True),
            ("knock_restricted room", since(10), S("knock_restricted"), knock, True),
            ("knock unknown before v7", until(6), S("knock"), knock, False),
            ("knock_restricted unknown before v10", since(7)[:3], S("knock_restricted"), knock, False),
            ("public room", ALL, S("public"), knock, False),
            ("invite room", ALL, S("invite"), knock, False),
            ("restricted room", since(8), S("restricted"), knock, False),
            ("for someone else", since(7), S("knock"), member(BOB, DAVE, "knock"), False),
            ("banned", since(7), S("knock", {DAVE: "ban"}), knock, False),
            ("already invited", since(7), S("knock", {DAVE: "invite"}), knock, False),
            ("already joined", since(7), S("knock"), member(BOB, BOB, "knock"), False),
            ("knock again", since(7), S("knock", {DAVE: "knock"}), knock, True),
            ("after leaving", since(7), S("knock", {DAVE: "leave"}), knock, True),
            ("unknown membership", ALL, S(), member(DAVE, DAVE, "hover"), False),
            ("no membership", ALL, S(), E("m.room.member", DAVE, {}, DAVE), False),
            ("no state_key", ALL, S(), E("m.room.member", DAVE, {"membership": "join"}), False),
        ])


def pl(sender: str, **content: Any) -> E:
    """A power levels event; before v12 Alice keeps her 100 unless `users` names her."""
    return E("m.room.power_levels", sender, content, "", keep_creator=True)


class PowerLevelsTests(TableTest):
    def test_changes(self) -> None:
        users = {BOB: 50}
        self.run_table([
            ("first power levels event", ALL, S(power=None), pl(ALICE, users={CAROL: 10}), True),
            ("creator raises a user", ALL, S(), pl(ALICE, users={**users, CAROL: 99}), True),
            ("raise a user to one's own level", ALL, S(), pl(BOB, users={**users, CAROL: 50}), True),
            ("raise a user above one's own level", ALL, S(), pl(BOB, users={**users, CAROL: 51}), False),
            ("lower one's own level", ALL, S(), pl(BOB, users={BOB: 10}), True),
            ("raise one's own level", ALL, S(), pl(BOB, users={BOB: 51}), False),
            ("change a peer's level", ALL, S(power={"users": {BOB: 50, CAROL: 50}}),
             pl(BOB, users={**users, CAROL: 0}), False),
            # 10.9 only looks at entries: a users_default level is not an entry being changed.
            ("demote a peer who has no entry", ALL, S(power={"users_default": 50}),
             pl(BOB, users={**users, CAROL: 0}), True),
            ("remove a lower user's entry", ALL, S(power={"users": {BOB: 50, CAROL: 10}}), pl(BOB, users=users),
             True),
            ("remove a peer's entry", ALL, S(power={"users": {BOB: 50, CAROL: 50}}), pl(BOB, users=users), False),
            ("same levels, stringy and int", until(9), S(power={"users": {BOB: "50", CAROL: 50}}),
             pl(BOB, users={BOB: 50, CAROL: "50"}), True),
            ("lower ban", ALL, S(), pl(BOB, users=users, ban=40), True),
            ("raise ban above own level", ALL, S(), pl(BOB, users=users, ban=60), False),
            ("change kick from above own level", ALL, S(power={"kick": 75}), pl(BOB, users=users, kick=50), False),
            ("remove a key above own level", ALL, S(power={"redact": 75}), pl(BOB, users=users), False),
            ("add a key at own level", ALL, S(), pl(BOB, users=users, state_default=50), True),
            ("unchanged key above own level", ALL, S(power={"invite": 75}),
             pl(BOB, users=users, invite=75), True),
            ("add an events entry above own level", ALL, S(),
             pl(BOB, users=users, events={"m.room.name": 60}), False),
            ("add an events entry at own level", ALL, S(), pl(BOB, users=users, events={"m.room.name": 50}), True),
            ("remove an events entry above own level", ALL, S(power={"events": {"m.room.tombstone": 100}}),
             pl(BOB, users=users), False),
            ("creator removes that entry", ALL, S(power={"events": {"m.room.tombstone": 100}}),
             pl(ALICE, users=users), True),
            ("add notifications above own level (checked v6+)", since(6), S(),
             pl(BOB, users=users, notifications={"room": 60}), False),
            ("add notifications above own level (unchecked v1-5)", until(5), S(),
             pl(BOB, users=users, notifications={"room": 60}), True),
            ("remove notifications above own level", since(6), S(power={"notifications": {"room": 100}}),
             pl(BOB, users=users), False),
            ("sender below the power levels event's level", ALL, S(power={"events": {"m.room.power_levels": 60}}),
             pl(BOB, users=users), False),
        ])

    def test_validation(self) -> None:
        users = {BOB: 50}
        self.run_table([
            ("stringy user level", until(9), S(), pl(ALICE, users={**users, CAROL: "10"}), True),
            ("stringy user level with spaces and sign", until(9), S(), pl(ALICE, users={CAROL: " +010 "}), True),
            ("stringy user level (v10+)", since(10), S(), pl(ALICE, users={**users, CAROL: "10"}), False),
            ("non-integer string", until(9), S(), pl(ALICE, users={CAROL: "1.5"}), False),
            ("two signs", until(9), S(), pl(ALICE, users={CAROL: "+-5"}), False),
            ("space inside the number", until(9), S(), pl(ALICE, users={CAROL: "1 0"}), False),
            ("exponent string", until(9), S(), pl(ALICE, users={CAROL: "1e2"}), False),
            ("float user level (v1-5 truncates)", until(5), S(), pl(ALICE, users={CAROL: 10.7}), True),
            ("float user level (v6+)", since(6), S(), pl(ALICE, users={CAROL: 10.0}), False),
            ("infinite float", ALL, S(), pl(ALICE, users={CAROL: math.inf}), False),
            ("boolean user level", ALL, S(), pl(ALICE, users={CAROL: True}), False),
            ("users not an object", ALL, S(), pl(ALICE, users=[CAROL]), False),
            ("users key not a user ID", ALL, S(), pl(ALICE, users={"carol": 10}), False),
            ("users key without a server", ALL, S(), pl(ALICE, users={"@carol": 10}), False),
            ("stringy ban (v1-9)", until(9), S(), pl(ALICE, users=users, ban="50"), True),
            ("stringy ban (v10+)", since(10), S(), pl(ALICE, users=users, ban="50"), False),
            ("stringy events value (v10+)", since(10), S(), pl(ALICE, users=users, events={"m.x": "5"}), False),
            ("events not an object (v10+)", since(10), S(), pl(ALICE, users=users, events=[]), False),
            ("notifications not an object (v10+)", since(10), S(), pl(ALICE, users=users, notifications=1), False),
            ("events not an object (unchecked v1-9)", until(9), S(), pl(ALICE, users=users, events=[]), True),
            ("state_key not empty", ALL, S(), E("m.room.power_levels", ALICE, {}, "x"), True),
        ])

    def test_v12_creators(self) -> None:
        additional = S(create={"additional_creators": [BOB]})
        self.run_table([
            ("creator in users", since(12), S(), pl(ALICE, users={ALICE: 100}), False),
            ("creator in users (allowed before v12)", until(11), S(), pl(ALICE, users={ALICE: 100}), True),
            ("additional creator in users", since(12), additional, pl(ALICE, users={BOB: 50}), False),
            ("creator in the first power levels event", since(12), S(power=None), pl(ALICE, users={ALICE: 1}),
             False),
            ("creator sets any level", since(12), S(), pl(ALICE, users={BOB: 2**53 - 1}), True),
            ("additional creator sets any level", since(12), additional, pl(BOB, users={CAROL: 10**9}), True),
            ("below-creator user cannot touch the creator", since(12), S(power={"users_default": 60}),
             pl(BOB, users={BOB: 50}, users_default=0), False),
        ])


class SendingTests(TableTest):
    def test_messages_and_state(self) -> None:
        msg = ev("m.room.message", CAROL, {"body": "hi"})
        self.run_table([
            ("message by a member", ALL, S(), msg, True),
            ("message by a non-member", ALL, S(), ev("m.room.message", DAVE), False),
            ("message by an invited user", ALL, S(members={CAROL: "invite"}), msg, False),
            ("message by a user who left", ALL, S(members={CAROL: "leave"}), msg, False),
            ("message below events_default", ALL, S(power={"events_default": 10}), msg, False),
            ("message below its events entry", ALL, S(power={"events": {"m.room.message": 1}}), msg, False),
            ("events entry lowers the level", ALL, S(power={"events_default": 10, "events": {"m.room.message": 0}}),
             msg, True),
            ("state below state_default", ALL, S(), ev("m.room.topic", CAROL, {}, ""), False),
            ("state at state_default", ALL, S(), ev("m.room.topic", BOB, {}, ""), True),
            ("state below its events entry", ALL, S(power={"events": {"m.room.name": 100}}),
             ev("m.room.name", BOB, {}, ""), False),
            ("state, stringy events entry", until(9), S(power={"events": {"m.room.name": "100"}}),
             ev("m.room.name", BOB, {}, ""), False),
            ("no power levels: creator sends state", ALL, S(power=None), ev("m.room.topic", ALICE, {}, ""), True),
            ("no power levels: others cannot (state_default 50)", ALL, S(power=None),
             ev("m.room.topic", BOB, {}, ""), False),
            ("no power levels: others send messages", ALL, S(power=None), msg, True),
            ("state_key @own user ID", ALL, S(power={"state_default": 0}), ev("x.y", CAROL, {}, CAROL), True),
            ("state_key @other user ID", ALL, S(power={"state_default": 0}), ev("x.y", CAROL, {}, BOB), False),
            ("creator sets state_key @other", ALL, S(), ev("x.y", ALICE, {}, BOB), False),
            ("third-party invite at invite level", ALL, S(), ev("m.room.third_party_invite", CAROL, {}, "t"), True),
            ("third-party invite below invite level", ALL, S(power={"invite": 10}),
             ev("m.room.third_party_invite", CAROL, {}, "t"), False),
            ("third-party invite by a non-member", ALL, S(), ev("m.room.third_party_invite", DAVE, {}, "t"), False),
        ])


class RedactionTests(TableTest):
    def test_redaction(self) -> None:
        other_server = "$theirs:other.org"
        own_server = "$mine:example.org"
        self.run_table([
            ("below redact level, other server's event (v1-2)", until(2), S(), redaction(CAROL, other_server),
             False),
            ("below redact level, own server's event (v1-2)", until(2), S(), redaction(CAROL, own_server), True),
            ("at redact level (v1-2)", until(2), S(), redaction(BOB, other_server), True),
            ("redact level is not an auth rule (v3+)", since(3), S(), redaction(CAROL, "$theirs"), True),
            ("m.room.redaction needs its events level", ALL, S(power={"events": {"m.room.redaction": 60}}),
             redaction(BOB, own_server), False),
            ("redaction by a non-member", ALL, S(), redaction(DAVE, own_server), False),
        ])


class AliasesTests(TableTest):
    def test_aliases(self) -> None:
        aliases = {"aliases": ["#a:example.org"]}
        self.run_table([
            ("own server's aliases, no membership needed", until(5), S(),
             ev("m.room.aliases", DAVE, aliases, "other.org"), True),
            ("own server's aliases by a level-0 user", until(5), S(),
             ev("m.room.aliases", CAROL, aliases, "example.org"), True),
            ("another server's aliases", until(5), S(), ev("m.room.aliases", CAROL, aliases, "other.org"), False),
            ("no state_key", until(5), S(), ev("m.room.aliases", CAROL, aliases), False),
            ("v6+: an ordinary state event, needs membership", since(6), S(),
             ev("m.room.aliases", DAVE, aliases, "other.org"), False),
            ("v6+: an ordinary state event, needs state_default", since(6), S(),
             ev("m.room.aliases", CAROL, aliases, "example.org"), False),
            ("v6+: at state_default", since(6), S(), ev("m.room.aliases", BOB, aliases, "example.org"), True),
        ])


class ImplicitCreatorTests(TableTest):
    def test_first_join(self) -> None:
        def first_join(user: str) -> E:
            e = member(user, user, "join")
            e.prev = ("create",)
            return e
        bob_creator = S(only_create=True, create={"creator": BOB})
        self.run_table([
            ("content.creator decides (v1-10)", until(10), bob_creator, first_join(BOB), True),
            ("create sender is not creator (v1-10)", until(10), bob_creator, first_join(ALICE), False),
            ("v11+: create sender is creator", since(11), bob_creator, first_join(ALICE), True),
            ("v11+: content.creator ignored", since(11), bob_creator, first_join(BOB), False),
            ("v12: additional creators join normally", since(12),
             S(only_create=True, create={"additional_creators": [BOB]}), first_join(BOB), False),
        ])

    def test_levels_without_power_levels(self) -> None:
        for version in ALL:
            rv = KNOWN_ROOM_VERSIONS[version]
            state = S(power=None, create={"creator": BOB}).build(rv)
            creator, other = (BOB, ALICE) if not rv.implicit_room_creator else (ALICE, BOB)
            expected = math.inf if rv.privileged_creators else 100
            self.assertEqual(get_user_power_level(creator, state), expected, version)
            self.assertEqual(get_user_power_level(other, state), 0, version)
            self.assertTrue(is_creator(creator, state))
            self.assertFalse(is_creator(other, state))


class V12CreatorsTests(TableTest):
    def test_power(self) -> None:
        rv = KNOWN_ROOM_VERSIONS["12"]
        state = S(create={"additional_creators": [BOB]}, members={BOB: "join", CAROL: "join"}).build(rv)
        self.assertEqual(get_user_power_level(ALICE, state), math.inf)
        self.assertEqual(get_user_power_level(BOB, state), math.inf)
        self.assertEqual(get_user_power_level(CAROL, state), 0)
        self.assertTrue(is_creator(BOB, state))
        self.assertEqual(get_user_power_level(BOB, S().build(KNOWN_ROOM_VERSIONS["11"])), 50)

    def test_creator_rules(self) -> None:
        additional = {"additional_creators": [BOB]}
        high = {"users": {CAROL: 2**53 - 1}, "kick": 2**53 - 1, "ban": 2**53 - 1}
        self.run_table([
            ("creator kicks the most powerful user", since(12), S(power=high), member(ALICE, CAROL, "leave"),
             True),
            ("most powerful user cannot kick a creator", since(12), S(power=high), member(CAROL, ALICE, "leave"),
             False),
            ("creators cannot kick each other", since(12), S(create=additional), member(ALICE, BOB, "leave"),
             False),
            ("creators cannot ban each other", since(12), S(create=additional), member(BOB, ALICE, "ban"), False),
            ("additional creator sends any state", since(12), S(create=additional, power={"state_default": 10**9}),
             ev("m.room.topic", BOB, {}, ""), True),
            ("additional creator must still be joined", since(12),
             S(create=additional, members={CAROL: "join"}), ev("m.room.topic", BOB, {}, ""), False),
            ("event for a room ID other than the create event's", since(12), S(),
             ev("m.room.message", CAROL, {}, room_id="!notcreate"), False),
        ])
