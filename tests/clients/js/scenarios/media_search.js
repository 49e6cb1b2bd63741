// Media, message search and the user directory through matrix-js-sdk's own calls (what Element uses):
// getMediaConfig, uploadContent, mxcUrlToHttp with authenticated media, searchRoomEvents (with its
// context), backPaginateRoomEventsSearch and searchUserDirectory.
import { Preset } from "matrix-js-sdk";

import { check, runScenario, waitUntil } from "../lib/harness.js";

// A 1x1 PNG: the thumbnail of an image smaller than the box is the image itself.
const PIXEL_PNG = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
    "base64",
);

async function fetchMedia(client, url) {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${client.getAccessToken()}` } });
    return { response, body: Buffer.from(await response.arrayBuffer()) };
}

runScenario("media_search", async (s) => {
    s.step("register and log in alice and bob");
    const alice = await s.login(await s.registerUser("alice"));
    const bob = await s.login(await s.registerUser("bob"));

    s.step("the media config advertises m.upload.size");
    const config = await alice.getMediaConfig(true);
    check(Number.isInteger(config["m.upload.size"]) && config["m.upload.size"] > 0,
        `media config: ${JSON.stringify(config)}`);

    s.step("upload a file with a non-ASCII name and download it through the authenticated URL");
    const text = Buffer.from("un résumé\n");
    const { content_uri: fileUri } = await alice.uploadContent(text, { name: "résumé.txt", type: "text/plain" });
    check(fileUri.startsWith("mxc://"), `upload returned ${fileUri}`);
    const fileUrl = alice.mxcUrlToHttp(fileUri, undefined, undefined, undefined, false, true, true);
    check(fileUrl.includes("/_matrix/client/v1/media/download/"), `download URL ${fileUrl}`);
    const file = await fetchMedia(bob, fileUrl);
    check(file.response.status === 200 && file.body.equals(text), `download: HTTP ${file.response.status}`);
    const disposition = file.response.headers.get("content-disposition") || "";
    check(disposition.includes("filename*=utf-8''r%C3%A9sum%C3%A9.txt"), `Content-Disposition: ${disposition}`);
    check(file.response.headers.get("content-length") === String(text.length), "Content-Length");

    s.step("upload an image and fetch its thumbnail");
    const { content_uri: imageUri } = await alice.uploadContent(PIXEL_PNG, { name: "pixel.png", type: "image/png" });
    const thumbUrl = alice.mxcUrlToHttp(imageUri, 32, 32, "crop", false, true, true);
    const thumb = await fetchMedia(bob, thumbUrl);
    check(thumb.response.status === 200 && thumb.response.headers.get("content-type") === "image/png",
        `thumbnail: HTTP ${thumb.response.status} ${thumb.response.headers.get("content-type")}`);

    s.step("alice makes a room for bob and talks in it");
    const { room_id: roomId } = await alice.createRoom({ preset: Preset.PrivateChat, invite: [bob.getUserId()] });
    await waitUntil("bob's invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite",
        [[bob, "Room.myMembership"], [bob, "sync"]]);
    await bob.joinRoom(roomId);
    const bodies = ["the first zebra", "something else", "the second zebra", "the third zebra"];
    const ids = [];
    for (const body of bodies) ids.push((await alice.sendTextMessage(roomId, body)).event_id);

    s.step("bob searches (newest first, with context) and pages back");
    const found = await bob.searchRoomEvents({ term: "zebra", filter: { limit: 2 } });
    check(found.count === 3, `count ${found.count}`);
    check(found.highlights.includes("zebra"), `highlights ${JSON.stringify(found.highlights)}`);
    check(found.results.length === 2 && found.next_batch, `first page: ${found.results.length} results`);
    const [newest] = found.results;
    check(newest.context.getEvent().getId() === ids[3], "the newest match comes first");
    check(typeof newest.rank === "number", `rank ${newest.rank}`);
    const timeline = newest.context.getTimeline().map((e) => e.getId());
    check(timeline.join() === [ids[2], ids[3]].join(), `context timeline ${timeline}`);
    const more = await bob.backPaginateRoomEventsSearch(found);
    const all = more.results.map((r) => r.context.getEvent().getId());
    check(all.join() === [ids[3], ids[2], ids[0]].join(), `all results ${all}`);
    check(!more.next_batch, "no next_batch after the last page");
    // Before the oldest match: bob's join.
    const oldest = more.results[2].context.getTimeline();
    check(oldest.length === 3 && oldest[0].getType() === "m.room.member"
        && oldest.slice(1).map((e) => e.getId()).join() === [ids[0], ids[1]].join(),
        `context of the oldest: ${oldest.map((e) => e.getType())}`);

    s.step("alice finds bob in the user directory");
    const directory = await alice.searchUserDirectory({ term: bob.getUserId().slice(1, 8) });
    check(directory.limited === false, `limited ${directory.limited}`);
    check(directory.results.some((r) => r.user_id === bob.getUserId()), `directory ${JSON.stringify(directory)}`);
});
