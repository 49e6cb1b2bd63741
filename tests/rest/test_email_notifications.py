"""E-mail notifications (email.enable_notifs): an e-mail pusher per bound address, a digest of
what stayed unread for notif_delay_before_mail (encrypted messages never quoted), nothing for
what was read, and a signed unsubscribe link."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.mail.fakes import EMAIL_CONFIG, mail_text, parse_mail
from tests.rest.test_email import V3, EmailTestCase

NOTIFS = {**EMAIL_CONFIG, "enable_notifs": True, "notif_delay_before_mail": "10m", "app_name": "Chat"}


class EmailNotificationsTest(EmailTestCase):
    config_overrides: dict[str, Any] = {"email": NOTIFS}

    async def setup_room(self) -> tuple[str, str, str]:
        self.hs.email_notifier.stop()  # rounds run when the test says (the minutely loop is not under test)
        alice = (await self.register_with_email("alice", "alice@example.org")).json["access_token"]
        bob = (await self.register("bob"))["access_token"]
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", "name": "Launch pad"}, token=bob)
        room_id = r.json["room_id"]
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        return alice, bob, room_id

    async def send(self, token: str, room_id: str, event_type: str, content: dict[str, Any], txn: str) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/{event_type}/{txn}", content, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def digest_round(self) -> None:
        await self.hs.push_actions_handler.drain()
        await self.hs.email_notifier.run_once()
        await self.pump()

    async def test_pusher_created_for_bound_address(self) -> None:
        alice, _, _ = await self.setup_room()
        r = await self.get(f"{V3}/pushers", token=alice)
        self.assertEqual([(p["kind"], p["app_id"], p["pushkey"]) for p in r.json["pushers"]],
                         [("email", "m.email", "alice@example.org")])
        # Removing the address removes its pusher.
        await self.post(f"{V3}/account/3pid/delete", {"medium": "email", "address": "alice@example.org"},
                        token=alice)
        self.assertEqual((await self.get(f"{V3}/pushers", token=alice)).json, {"pushers": []})

    async def test_digest_of_unread_messages(self) -> None:
        alice, bob, room_id = await self.setup_room()
        mails_before = len(self.transport.sent)
        await self.send(bob, room_id, "m.room.message", {"msgtype": "m.text", "body": "Countdown at noon"}, "1")
        await self.send(bob, room_id, "m.room.encrypted", {
            "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "SECRET-CIPHERTEXT", "sender_key": "k",
            "device_id": "D", "session_id": "s"}, "2")
        await self.digest_round()
        self.assertEqual(len(self.transport.sent), mails_before)  # not unread for long enough yet
        self.advance(10 * 60)
        await self.digest_round()
        raw = await self.next_mail(mails_before + 1)
        self.assertEqual(self.transport.sent[-1][1], "alice@example.org")
        mail = parse_mail(raw)
        self.assertEqual(mail["Subject"], "[Chat] You have messages on Chat in the Launch pad room...")
        text = mail_text(raw)
        self.assertIn("Countdown at noon", text)
        self.assertIn("sent an encrypted message", text)
        self.assertNotIn(b"SECRET-CIPHERTEXT", raw)
        self.assertIn("/email/unsubscribe?", mail["List-Unsubscribe"])
        # Sent once: the next round has nothing new.
        self.advance(10 * 60)
        await self.digest_round()
        self.assertEqual(len(self.transport.sent), mails_before + 1)

    async def test_invitation_is_mailed(self) -> None:
        alice, bob, _ = await self.setup_room()
        mails_before = len(self.transport.sent)
        r = await self.post(f"{V3}/createRoom", {"name": "Secret base", "invite": ["@alice:test"]}, token=bob)
        self.assertEqual(r.code, 200, r.json)
        await self.hs.push_actions_handler.drain()
        self.advance(10 * 60)
        await self.digest_round()
        text = mail_text(await self.next_mail(mails_before + 1))
        self.assertIn("invited you", text)
        self.assertIn("Secret base", text)

    async def test_read_messages_are_not_mailed(self) -> None:
        alice, bob, room_id = await self.setup_room()
        mails_before = len(self.transport.sent)
        event_id = await self.send(bob, room_id, "m.room.message", {"msgtype": "m.text", "body": "seen"}, "1")
        await self.hs.push_actions_handler.drain()
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(event_id)}", {}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        self.advance(20 * 60)
        await self.digest_round()
        await self.pump()
        self.assertEqual(len(self.transport.sent), mails_before)

    async def test_unsubscribe(self) -> None:
        alice, bob, room_id = await self.setup_room()
        mails_before = len(self.transport.sent)
        await self.send(bob, room_id, "m.room.message", {"msgtype": "m.text", "body": "hi"}, "1")
        await self.hs.push_actions_handler.drain()  # the notification is recorded as the event arrives
        self.advance(10 * 60)
        await self.digest_round()
        link = parse_mail(await self.next_mail(mails_before + 1))["List-Unsubscribe"].strip("<>")
        path = link.removeprefix("https://matrix.test")
        page = await self.request("GET", path)
        self.assertEqual(page.code, 200)
        self.assertEqual(len((await self.get(f"{V3}/pushers", token=alice)).json["pushers"]), 1)
        bad = await self.request("POST", path.replace("sig=", "sig=0"))
        self.assertEqual(bad.code, 400)
        forged = await self.request("POST", path.replace("alice%40example.org", "bob%40example.org"))
        self.assertEqual(forged.code, 400)
        self.assertEqual(len((await self.get(f"{V3}/pushers", token=alice)).json["pushers"]), 1)
        self.assertEqual((await self.request("POST", path)).code, 200)
        self.assertEqual((await self.get(f"{V3}/pushers", token=alice)).json, {"pushers": []})


class OptInTest(EmailTestCase):
    config_overrides: dict[str, Any] = {"email": {**NOTIFS, "notif_for_new_users": False}}

    async def test_no_pusher_until_the_user_sets_one(self) -> None:
        alice = (await self.register_with_email("alice", "alice@example.org")).json["access_token"]
        self.assertEqual((await self.get(f"{V3}/pushers", token=alice)).json, {"pushers": []})
        body = {"kind": "email", "app_id": "m.email", "app_display_name": "Email", "device_display_name": "mail",
                "lang": "en", "data": {}}
        await self.assert_rejected_without_change("POST", f"{V3}/pushers/set",
                                                  {**body, "pushkey": "someone@example.org"}, 400,
                                                  "M_THREEPID_NOT_FOUND", token=alice)
        r = await self.post(f"{V3}/pushers/set", {**body, "pushkey": "Alice@example.org"}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/pushers", token=alice)
        self.assertEqual([p["pushkey"] for p in r.json["pushers"]], ["alice@example.org"])
