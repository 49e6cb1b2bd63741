"""Admin API on media (Synapse's paths): quarantine one item, a room's and a user's media, and
release them; protect from quarantine; delete local media unused since a date; delete one item."""

from __future__ import annotations

from tests.rest.admin_support import AdminTestCase

V1 = "/_synapse/admin/v1"


class MediaAdminTest(AdminTestCase):
    async def _upload(self, data: bytes, token: str | None = None) -> str:
        r = await self.request("POST", "/_matrix/media/v3/upload", raw_body=data, token=token or self.alice,
                               headers={"Content-Type": "text/plain"})
        self.assertEqual(r.code, 200, r.json)
        return r.json["content_uri"].rsplit("/", 1)[1]

    async def _download(self, media_id: str) -> int:
        return (await self.get(f"/_matrix/client/v1/media/download/test/{media_id}", token=self.alice)).code

    async def test_quarantine_one_and_release(self) -> None:
        media_id = await self._upload(b"hello")
        self.assertEqual(await self._download(media_id), 200)
        path = f"{V1}/media/quarantine/test/{media_id}"
        await self.assert_admin_only("POST", path, {})
        await self.assert_rejected_without_change("POST", f"{V1}/media/quarantine/bad!server/{media_id}", {}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        self.assertEqual((await self.post(path, {}, token=self.admin)).json, {})
        self.assertEqual(await self._download(media_id), 404)
        r = await self.get(f"{V1}/users/@alice:test/media", token=self.admin)
        self.assertEqual(r.json["media"][0]["quarantined_by"], "@admin:test")
        self.assertEqual((await self.post(f"{V1}/media/unquarantine/test/{media_id}", {}, token=self.admin)).code,
                         200)
        self.assertEqual(await self._download(media_id), 200)

    async def test_protected_media_escape_quarantine(self) -> None:
        media_id = await self._upload(b"precious")
        path = f"{V1}/media/protect/{media_id}"
        await self.assert_admin_only("POST", path, {})
        self.assert_error(await self.post(f"{V1}/media/protect/unknownmedia", {}, token=self.admin), 404,
                          "M_NOT_FOUND")
        self.assertEqual((await self.post(path, {}, token=self.admin)).code, 200)
        r = await self.post(f"{V1}/user/@alice:test/media/quarantine", {}, token=self.admin)
        self.assertEqual(r.json, {"num_quarantined": 0})
        self.assertEqual(await self._download(media_id), 200)
        self.assertEqual((await self.post(f"{V1}/media/unprotect/{media_id}", {}, token=self.admin)).code, 200)
        r = await self.post(f"{V1}/user/@alice:test/media/quarantine", {}, token=self.admin)
        self.assertEqual(r.json, {"num_quarantined": 1})
        self.assertEqual(await self._download(media_id), 404)
        self.assert_error(await self.post(f"{V1}/user/@nobody:test/media/quarantine", {}, token=self.admin), 404,
                          "M_NOT_FOUND")
        await self.assert_admin_only("POST", f"{V1}/user/@alice:test/media/quarantine", {})

    async def test_quarantine_room_media(self) -> None:
        in_room = await self._upload(b"image")
        elsewhere = await self._upload(b"other")
        room_id = await self.create_room(self.alice)
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1", {
            "msgtype": "m.image", "body": "pic", "url": f"mxc://test/{in_room}",
            "info": {"thumbnail_url": "mxc://remote.example/thumb"}}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        path = f"{V1}/room/{room_id}/media/quarantine"
        await self.assert_admin_only("POST", path, {})
        self.assert_error(await self.post(f"{V1}/room/!unknown:test/media/quarantine", {}, token=self.admin), 404,
                          "M_NOT_FOUND")
        r = await self.post(path, {}, token=self.admin)
        self.assertEqual(r.json, {"num_quarantined": 1})  # the remote thumbnail is not cached here
        self.assertEqual((await self._download(in_room), await self._download(elsewhere)), (404, 200))

    async def test_delete_before(self) -> None:
        old = await self._upload(b"old")
        avatar = await self._upload(b"avatar")
        protected = await self._upload(b"protected")
        await self.request("PUT", "/_matrix/client/v3/profile/@alice:test/avatar_url",
                           {"avatar_url": f"mxc://test/{avatar}"}, token=self.alice)
        await self.post(f"{V1}/media/protect/{protected}", {}, token=self.admin)
        self.advance(3600)
        new = await self._upload(b"new")
        cutoff = int(self.fake_time.seconds() * 1000) - 1000
        await self.assert_admin_only("POST", f"{V1}/media/delete?before_ts={cutoff}", {})
        for query in ("", "before_ts=yesterday", "before_ts=1&size_gt=-1", "before_ts=1&keep_profiles=maybe"):
            r = await self.post(f"{V1}/media/delete?{query}", {}, token=self.admin)
            self.assertEqual(r.code, 400, r.json)
        await self.assert_rejected_without_change("POST", f"{V1}/media/elsewhere/delete?before_ts={cutoff}", {}, 400,
                                                  "M_INVALID_PARAM", token=self.admin)
        r = await self.post(f"{V1}/media/test/delete?before_ts={cutoff}", {}, token=self.admin)
        self.assertEqual(r.json, {"deleted_media": [old], "total": 1})
        self.assertEqual([await self._download(m) for m in (old, avatar, protected, new)], [404, 200, 200, 200])
        r = await self.post(f"{V1}/media/delete?before_ts={cutoff}&keep_profiles=false", {}, token=self.admin)
        self.assertEqual(r.json, {"deleted_media": [avatar], "total": 1})

    async def test_delete_one(self) -> None:
        media_id = await self._upload(b"bye")
        path = f"{V1}/media/test/{media_id}"
        await self.assert_admin_only("DELETE", path)
        self.assert_error(await self.request("DELETE", f"{V1}/media/test/unknownmedia", token=self.admin), 404,
                          "M_NOT_FOUND")
        r = await self.request("DELETE", path, token=self.admin)
        self.assertEqual(r.json, {"deleted_media": [media_id], "total": 1})
        self.assertEqual(await self._download(media_id), 404)
