// End to end: search results that jump far back in history, emotes and notices, edit history and
// threads, between two people on the REAL server process in headless Chromium.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  DESKTOP, PHONE, SLOW, acceptInvitation, aliceAndBobInDirectChat, assertJumpedTo, assertNoHorizontalScroll, composer, messageLog,
  messageRow, roomListEntries, sendMessage, shot, startEnvironment, storedSession,
} from "./support.mjs";

let env;
let alice;
let bob;

const panel = (page) => page.getByRole("complementary", { name: "Thread" });
const threadLog = (page) => page.getByRole("log", { name: "Thread messages" });

describe("timeline: search jumps, emotes, edit history, threads", () => {
  before(async () => {
    env = await startEnvironment();
    ({ alice, bob } = await aliceAndBobInDirectChat(env, "Hello Bob"));
  });

  after(async () => {
    await env?.stop();
  });

  test("/me is sent as an emote and shown as '* alice waves' on the other side; unknown commands are not sent", async () => {
    await sendMessage(alice, "/me waves **hello**", "waves hello");
    const emote = messageRow(bob, "waves hello");
    await emote.waitFor(SLOW);
    assert.equal(await emote.getAttribute("data-msgtype"), "emote");
    const body = emote.locator("[data-emote]");
    assert.equal((await body.textContent()).trim(), "* alice waves hello");
    assert.equal(await body.locator("i").textContent(), "alice");
    await body.locator("strong", { hasText: "hello" }).waitFor();
    // The room list preview reads as an emote too.
    await roomListEntries(bob, "* alice waves **hello**").waitFor(SLOW);

    // An unknown command is refused with a hint, and nothing is sent.
    await composer(alice).fill("/shrug whatever");
    await composer(alice).press("Enter");
    const problem = alice.getByRole("alert").filter({ hasText: "Unknown command /shrug" });
    await problem.waitFor();
    assert.match(await problem.textContent(), /\/\/shrug/);
    assert.equal(await composer(alice).inputValue(), "/shrug whatever");
    assert.equal(await messageLog(alice).getByText("shrug whatever").count(), 0);
    // "//" sends the leading slash as text.
    await sendMessage(alice, "//shrug is a command elsewhere", "/shrug is a command elsewhere");
    await messageRow(bob, "/shrug is a command elsewhere").waitFor(SLOW);
    assert.equal(await messageRow(bob, "/shrug is a command elsewhere").getAttribute("data-msgtype"), null);
  });

  test("(edited) opens the edit history with every version, newest first", async () => {
    await sendMessage(alice, "Meet at the cafe");
    for (const text of ["Meet at the bakery", "Meet at the park"]) {
      await composer(alice).press("ArrowUp");
      await alice.getByRole("group", { name: "Editing" }).waitFor();
      await composer(alice).fill(text);
      await composer(alice).press("Enter");
      await messageRow(bob, text).getByText("(edited)").waitFor(SLOW);
    }
    await messageRow(bob, "Meet at the park").getByRole("button", { name: /edited/ }).click();
    const dialog = bob.getByRole("dialog", { name: "Edit history" });
    const versions = dialog.getByRole("list", { name: "Versions" }).getByRole("listitem");
    await versions.nth(2).waitFor(SLOW);
    const texts = await versions.allTextContents();
    assert.equal(texts.length, 3, texts.join(" | "));
    assert.match(texts[0], /Latest.*Meet at the park/);
    assert.match(texts[1], /Edit 1 of 2.*Meet at the bakery/);
    assert.match(texts[2], /Original.*Meet at the cafe/);
    await shot(bob, "edit-history");
    await bob.setViewportSize(PHONE);
    await shot(bob, "edit-history");
    await bob.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    await bob.setViewportSize(DESKTOP);
  });

  test("a thread reply from the panel reaches the other side's thread panel with an m.thread relation", async () => {
    await sendMessage(bob, "Which movie tonight?");
    const root = messageRow(alice, "Which movie tonight?");
    await root.waitFor(SLOW);
    await root.hover();
    await root.getByRole("button", { name: "Reply in thread" }).click();
    await panel(alice).waitFor();
    await messageRow(alice, "Which movie tonight?", threadLog(alice)).waitFor();
    const reply = alice.getByRole("textbox", { name: "Reply in thread" });
    await reply.fill("The new one, *obviously*");
    await reply.press("Enter");
    await threadLog(alice).locator('[data-send-state="sent"]', { hasText: "The new one, obviously" }).waitFor(SLOW);

    // Bob sees "1 reply" under the root, and the reply in the main timeline marked as in a thread.
    const summary = messageRow(bob, "Which movie tonight?").getByRole("button", { name: "1 reply" });
    await summary.waitFor(SLOW);
    await messageRow(bob, "The new one, obviously").locator("[data-in-thread]").waitFor();
    await summary.click();
    await messageRow(bob, "The new one, obviously", threadLog(bob)).locator("em", { hasText: "obviously" }).waitFor(SLOW);

    // The event carries the thread relation with the rich-reply fallback to the thread's latest message.
    const rootId = await panel(bob).getAttribute("data-thread-panel");
    const token = (await storedSession(bob)).accessToken;
    const rooms = await env.api("GET", "/joined_rooms", undefined, token);
    const roomId = rooms.json.joined_rooms[0];
    const relations = async () =>
      (await env.api("GET", `/rooms/${encodeURIComponent(roomId)}/relations/${encodeURIComponent(rootId)}/m.thread`, undefined, token, { prefix: "/_matrix/client/v1" })).json.chunk;
    const [first] = await relations();
    assert.deepEqual(first.content["m.relates_to"], {
      rel_type: "m.thread",
      event_id: rootId,
      is_falling_back: true,
      "m.in_reply_to": { event_id: rootId },
    });
    assert.equal(first.type, "m.room.encrypted", "the reply is encrypted; only the relation is in the clear");

    // Bob answers in his panel; Alice's open panel shows it, with the fallback now on Alice's reply.
    await bob.getByRole("textbox", { name: "Reply in thread" }).fill("Sounds good");
    await bob.getByRole("textbox", { name: "Reply in thread" }).press("Enter");
    await messageRow(alice, "Sounds good", threadLog(alice)).waitFor(SLOW);
    await messageRow(alice, "Which movie tonight?").getByRole("button", { name: "2 replies" }).waitFor(SLOW);
    const latest = (await relations())[0];
    assert.equal(latest.content["m.relates_to"]["m.in_reply_to"].event_id, first.event_id);
    assert.equal(latest.content["m.relates_to"].is_falling_back, true);

    await messageRow(bob, "Sounds good", threadLog(bob)).waitFor(SLOW);
    await bob.mouse.move(1, 1);
    await shot(bob, "thread-panel");
    await bob.setViewportSize(PHONE);
    await panel(bob).getByRole("button", { name: "Back to conversation" }).waitFor();
    await shot(bob, "thread-panel");
    await assertNoHorizontalScroll(bob);
    await panel(bob).getByRole("button", { name: "Back to conversation" }).click();
    await panel(bob).waitFor({ state: "detached" });
    await bob.setViewportSize(DESKTOP);
    await panel(alice).getByRole("button", { name: "Close thread" }).click();
    await panel(alice).waitFor({ state: "detached" });
  });

  test("a search result 200 messages back opens the conversation there, highlighted; Jump to latest returns", async () => {
    const token = await env.registerByApi("carol");
    const room = await env.api("POST", "/createRoom", { name: "Archive", invite: ["@alice:localhost"], preset: "private_chat" }, token);
    const roomPath = `/rooms/${encodeURIComponent(room.json.room_id)}`;
    const put = async (txn, content) => assert.equal((await env.api("PUT", `${roomPath}/send/m.room.message/${txn}`, content, token)).status, 200);
    await put("secret", { msgtype: "m.text", body: "The secret word is pumpernickel" });
    for (let i = 1; i <= 200; i++) await put(`f${i}`, { msgtype: "m.text", body: `Filler message ${i}` });
    await put("notice", { msgtype: "m.notice", body: "Nightly build passed" });

    await acceptInvitation(alice);
    const notice = messageRow(alice, "Nightly build passed");
    await notice.waitFor(SLOW);
    assert.equal(await notice.getAttribute("data-msgtype"), "notice", "a bot's notice is drawn apart");
    await notice.getByText("Notice", { exact: true }).waitFor();

    await alice.getByRole("button", { name: "Search messages" }).click();
    const dialog = alice.getByRole("dialog", { name: "Search messages" });
    await dialog.getByRole("searchbox", { name: "Search for" }).fill("pumpernickel");
    await dialog.getByRole("list", { name: "Search results" }).getByRole("button", { name: /pumpernickel/ }).click(SLOW);
    await dialog.waitFor({ state: "detached" });
    await assertJumpedTo(alice, "The secret word is pumpernickel");
    // Only the history around the message was loaded, not the 200 messages in between.
    assert.equal(await messageRow(alice, /^Filler message 150$/).count(), 0, "the messages in between are not loaded");
    assert.equal(await messageRow(alice, "Nightly build passed").count(), 0);
    await shot(alice, "search-jump");

    await alice.getByRole("button", { name: "Jump to latest" }).click();
    await messageRow(alice, "Nightly build passed").waitFor(SLOW);
    await alice.getByRole("button", { name: "Jump to latest" }).waitFor({ state: "detached" });
    const [box, view] = [await messageRow(alice, "Nightly build passed").boundingBox(), await messageLog(alice).boundingBox()];
    assert.ok(box.y + box.height <= view.y + view.height + 1 && box.y >= view.y, "the newest message is on screen");
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
