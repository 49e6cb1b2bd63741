// End to end: the conversation timeline (replies, reactions, edits, deletion, typing, receipts,
// Markdown) between two people in an encrypted DM, on the REAL server process in headless Chromium.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  DESKTOP, PHONE, SLOW, acceptInvitation, aliceAndBobInDirectChat, assertJumpedTo, assertNoHorizontalScroll, composer, messageLog,
  messageRow, roomListEntries, sendMessage, shot, startEnvironment, storedSession,
} from "./support.mjs";

let env;
let alice;
let bob;

const chip = (page, text, key) => messageRow(page, text).locator(`button[data-reaction="${key}"]`);

async function chipState(page, text, key) {
  const c = chip(page, text, key);
  return { count: (await c.locator("[data-count]").textContent()).trim(), pressed: await c.getAttribute("aria-pressed") };
}

async function waitForChip(page, text, key, expected) {
  const deadline = Date.now() + 30_000;
  let last;
  for (;;) {
    last = (await chip(page, text, key).count()) ? await chipState(page, text, key) : null;
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    if (Date.now() > deadline) assert.fail(`reaction ${key} on "${text}": wanted ${JSON.stringify(expected)}, got ${JSON.stringify(last)}`);
    await page.waitForTimeout(200);
  }
}

describe("conversation timeline between two people", () => {
  before(async () => {
    env = await startEnvironment();
    // Alice opens an encrypted DM with Bob, who accepts it.
    ({ alice, bob } = await aliceAndBobInDirectChat(env, "Lunch at noon?"));
  });

  after(async () => {
    await env?.stop();
  });

  test("the other side sees who is typing, until the message is sent", async () => {
    await composer(bob).click();
    await composer(bob).pressSequentially("Yes", { delay: 30 });
    await alice.getByRole("status").filter({ hasText: "bob is typing…" }).waitFor(SLOW);
    await composer(bob).fill("");
    await composer(bob).blur();
    await alice.getByRole("status").filter({ hasText: "typing" }).waitFor({ state: "detached", ...SLOW });
  });

  test("a reply shows the quoted message on both sides, and the quote jumps to the original", async () => {
    const original = messageRow(bob, "Lunch at noon?");
    await original.hover();
    await original.getByRole("button", { name: "Reply", exact: true }).click();
    const replying = bob.getByRole("group", { name: "Replying to" });
    await replying.getByText("Replying to alice").waitFor();
    await replying.getByText("Lunch at noon?").waitFor();
    // Cancel, then reply for real (keyboard: Escape cancels).
    await composer(bob).press("Escape");
    await replying.waitFor({ state: "detached" });
    await original.hover();
    await original.getByRole("button", { name: "Reply", exact: true }).click();
    await sendMessage(bob, "Yes, see you there");
    for (const page of [alice, bob]) {
      const quote = messageRow(page, "Yes, see you there").locator("[data-reply-quote]");
      await quote.filter({ hasText: "Lunch at noon?" }).waitFor(SLOW);
      assert.match(await quote.getAttribute("aria-label"), /In reply to alice: Lunch at noon\?/);
    }
    await messageRow(alice, "Yes, see you there").locator("[data-reply-quote]").click();
    await assertJumpedTo(alice, "Lunch at noon?");
  });

  test("a reaction round-trips with counts, highlight, toggling and the full picker", async () => {
    const target = "Yes, see you there";
    await messageRow(alice, target).hover();
    await messageRow(alice, target).getByRole("button", { name: "React with 👍" }).click();
    await waitForChip(alice, target, "👍", { count: "1", pressed: "true" });
    await waitForChip(bob, target, "👍", { count: "1", pressed: "false" });
    await chip(bob, target, "👍").click();
    await waitForChip(bob, target, "👍", { count: "2", pressed: "true" });
    await waitForChip(alice, target, "👍", { count: "2", pressed: "true" });
    const tooltip = await chip(alice, target, "👍").getAttribute("aria-describedby");
    assert.match(await alice.locator(`[id="${tooltip}"]`).textContent(), /alice and bob reacted with 👍|bob and alice reacted with 👍/);
    // Clicking our own reaction again takes it back (a redaction).
    await chip(bob, target, "👍").click();
    await waitForChip(alice, target, "👍", { count: "1", pressed: "true" });
    await waitForChip(bob, target, "👍", { count: "1", pressed: "false" });

    // The full picker is a separate chunk, loaded only when first opened.
    assert.equal(bob.chunks.filter((u) => u.includes("EmojiPicker")).length, 0);
    await messageRow(bob, "Lunch at noon?").hover();
    await messageRow(bob, "Lunch at noon?").getByRole("button", { name: "More reactions" }).click();
    const picker = bob.getByRole("dialog", { name: "Add a reaction" });
    await picker.getByRole("searchbox", { name: "Search emoji" }).fill("tada");
    await picker.getByRole("button", { name: /party popper/ }).click();
    await picker.waitFor({ state: "detached" });
    assert.equal(bob.chunks.filter((u) => u.includes("EmojiPicker")).length, 1);
    await waitForChip(alice, "Lunch at noon?", "🎉", { count: "1", pressed: "false" });
  });

  test("Markdown is sent as HTML and shown formatted", async () => {
    await sendMessage(alice, "This is **important** and `code` and https://example.org/x", "This is important and code");
    const message = messageRow(bob, "important");
    await message.locator("strong", { hasText: "important" }).waitFor(SLOW);
    await message.locator("code", { hasText: "code" }).waitFor();
    assert.equal(await message.locator('a[href="https://example.org/x"]').getAttribute("rel"), "noreferrer noopener");
  });

  test("a Markdown list and quote are sent as HTML and drawn as a list and a quote; the renderer is its own chunk", async () => {
    // The renderer (markdown-it) is a lazy chunk, fetched once the composer is shown, not in the main bundle.
    assert.equal(alice.chunks.filter((u) => /\/assets\/markdown-render-[\w-]+\.js$/.test(u)).length, 1, alice.chunks.join("\n"));
    await sendMessage(alice, "## Shopping\n\n- milk\n- eggs (free range)\n\n> don't forget\n\n```sh\necho 'a < b'\n```\n\n| item | qty |\n|--|--:|\n| milk | 2 |", "milk");
    const message = messageRow(bob, "eggs (free range)");
    await message.waitFor(SLOW);
    const items = message.locator("ul > li");
    await items.first().waitFor(SLOW);
    assert.deepEqual(await items.allTextContents(), ["milk", "eggs (free range)"]);
    assert.equal((await message.locator("blockquote").textContent()).trim(), "don't forget");
    assert.equal(await message.locator("h2").textContent(), "Shopping");
    assert.equal(await message.locator("pre > code.language-sh").textContent(), "echo 'a < b'\n");
    assert.deepEqual(await message.locator("td").allTextContents(), ["milk", "2"]);
    await message.scrollIntoViewIfNeeded();
    await shot(bob, "markdown");
    // The Markdown markers are not shown.
    assert.equal(await message.getByText("- milk").count(), 0);
  });

  test("Up arrow edits the last message; the other side shows the new text with (edited)", async () => {
    await sendMessage(alice, "Meet at the cafe");
    await composer(alice).press("ArrowUp");
    await alice.getByRole("group", { name: "Editing" }).getByText("Editing message").waitFor();
    assert.equal(await composer(alice).inputValue(), "Meet at the cafe");
    await composer(alice).fill("Meet at the bakery");
    await composer(alice).press("Enter");
    await messageRow(bob, "Meet at the bakery").getByText("(edited)").waitFor(SLOW);
    await messageRow(alice, "Meet at the bakery").getByText("(edited)").waitFor(SLOW);
    assert.equal(await messageLog(bob).getByText("Meet at the cafe").count(), 0);
    assert.equal(await messageLog(bob).getByText("* Meet at the bakery").count(), 0, "the edit event itself is not drawn");
  });

  test("a deleted message disappears on both sides after a confirmation", async () => {
    await sendMessage(alice, "Oops, wrong chat");
    await messageRow(bob, "Oops, wrong chat").waitFor(SLOW);
    await messageRow(alice, "Oops, wrong chat").hover();
    await messageRow(alice, "Oops, wrong chat").getByRole("button", { name: "Delete" }).click();
    const confirm = alice.getByRole("dialog", { name: "Delete message?" });
    await confirm.getByRole("button", { name: "Delete" }).click();
    await confirm.waitFor({ state: "detached" });
    for (const page of [alice, bob]) {
      await messageLog(page).getByText("Oops, wrong chat").waitFor({ state: "detached", ...SLOW });
      await messageLog(page).getByText("Message deleted").waitFor(SLOW);
    }
  });

  test("read receipts show who has read up to a message", async () => {
    await sendMessage(bob, "Read this please");
    await messageRow(alice, "Read this please").waitFor(SLOW);
    // Alice's client sends a receipt as it shows the message; Bob sees her avatar on it.
    await messageLog(bob).locator('[data-read-by~="@alice:localhost"]').last().waitFor(SLOW);
    const marked = messageRow(bob, "Read this please").locator('[data-read-by~="@alice:localhost"]');
    await marked.waitFor(SLOW);
    assert.equal(await marked.getAttribute("aria-label"), "Read by alice");
  });

  test("keyboard: a message's actions are reachable without a mouse", async () => {
    await alice.mouse.move(1, 1);
    const message = messageRow(alice, "Read this please");
    await message.focus();
    const toolbar = message.getByRole("toolbar", { name: "Message actions" });
    await alice.waitForFunction((el) => getComputedStyle(el).opacity === "1", await toolbar.elementHandle());
    await alice.keyboard.press("Tab");
    assert.equal(await alice.evaluate(() => document.activeElement.getAttribute("aria-label")), "React with 👍");
    await alice.keyboard.press("End");
    assert.equal(await alice.evaluate(() => document.activeElement.getAttribute("aria-label")), "Reply");
    await alice.keyboard.press("Enter");
    await alice.getByRole("group", { name: "Replying to" }).getByText("Replying to bob").waitFor();
    assert.equal(await alice.evaluate(() => document.activeElement.getAttribute("aria-label")), "Message");
    await alice.keyboard.press("Escape");
    await alice.getByRole("group", { name: "Replying to" }).waitFor({ state: "detached" });
  });

  test("screenshots of the conversation on desktop and phone", async () => {
    await messageRow(alice, "Yes, see you there").hover();
    await shot(alice, "timeline");
    await bob.setViewportSize(PHONE);
    await messageRow(bob, "Lunch at noon?").waitFor();
    await messageLog(bob).evaluate((el) => (el.scrollTop = el.scrollHeight));
    await bob.mouse.move(1, 1);
    await bob.waitForTimeout(500); // the hover toolbar fades out
    await shot(bob, "timeline");
    await assertNoHorizontalScroll(bob);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });

  test("a button jumps to the first unread message when it is above the screen", async () => {
    // Bob (on a phone) goes back to his list while Alice writes more than a screenful.
    await bob.getByRole("button", { name: "Back to conversations" }).click();
    for (let i = 1; i <= 20; i++) {
      await composer(alice).fill(`Unread number ${i}`);
      await composer(alice).press("Enter");
    }
    await messageLog(alice).locator('[data-send-state="sent"]', { hasText: "Unread number 20" }).waitFor(SLOW);
    const entry = roomListEntries(bob, "Unread number 20");
    await entry.waitFor(SLOW);
    await entry.click();
    const jump = bob.getByRole("button", { name: "Jump to first unread message" });
    await jump.waitFor();
    await bob.getByRole("separator", { name: "New messages" }).waitFor({ state: "attached" });
    await shot(bob, "jump-to-unread");
    await jump.click();
    await assertJumpedTo(bob, "Unread number 1");
    await jump.waitFor({ state: "detached" });
  });

  test("a reply to an old message fetches the quote and jumps back through history to it", async () => {
    // Carol (through the API) writes 100 messages in an unencrypted room, then replies to the first one:
    // more than the first sync and two back-paginations bring.
    const token = await env.registerByApi("carol");
    const room = await env.api("POST", "/createRoom", { name: "Archive", invite: ["@alice:localhost"], preset: "private_chat" }, token);
    const roomPath = `/rooms/${encodeURIComponent(room.json.room_id)}`;
    let firstId;
    for (let i = 1; i <= 100; i++) {
      const sent = await env.api("PUT", `${roomPath}/send/m.room.message/a${i}`, { msgtype: "m.text", body: `Archived message ${i}` }, token);
      assert.equal(sent.status, 200);
      if (i === 1) firstId = sent.json.event_id;
    }
    const reply = {
      msgtype: "m.text",
      // An old-style fallback, which the client must strip.
      body: "> <@carol:localhost> Archived message 1\n\nStill true today",
      "m.relates_to": { "m.in_reply_to": { event_id: firstId } },
    };
    assert.equal((await env.api("PUT", `${roomPath}/send/m.room.message/reply`, reply, token)).status, 200);

    await alice.setViewportSize(DESKTOP);
    await acceptInvitation(alice, "Archive");
    const replyRow = messageRow(alice, "Still true today");
    await replyRow.waitFor(SLOW);
    assert.equal(await messageLog(alice).getByText("> <@carol:localhost>").count(), 0, "the reply fallback is stripped");
    const quote = replyRow.locator("[data-reply-quote]");
    await quote.filter({ hasText: "Archived message 1" }).waitFor(SLOW); // fetched: not in the loaded timeline
    const bubbleOfFirst = messageLog(alice).locator("li[data-event-id] > div > div", { hasText: /^Archived message 1$/ });
    assert.equal(await bubbleOfFirst.count(), 0, "the original is not loaded before the jump");
    await quote.click();
    await assertJumpedTo(alice, "Archived message 1");
    await shot(alice, "reply-jump-history");
  });

  test("a received spoiler stays hidden until clicked, its reason shown", async () => {
    // A room without encryption, so the test can send the HTML through the API as another client would.
    const token = (await storedSession(bob)).accessToken;
    const room = await env.api("POST", "/createRoom", { name: "Spoilers", invite: ["@alice:localhost"], preset: "private_chat" }, token);
    assert.equal(room.status, 200);
    const sent = await env.api("PUT", `/rooms/${encodeURIComponent(room.json.room_id)}/send/m.room.message/spoiler1`, {
      msgtype: "m.text",
      body: "The butler [Spoiler for the ending](mxc://localhost/none) and Rosebud [Spoiler](mxc://localhost/none)",
      format: "org.matrix.custom.html",
      formatted_body: "The butler <span data-mx-spoiler=\"the ending\">did it in the library</span> and Rosebud <span data-mx-spoiler>was a sled</span>",
    }, token);
    assert.equal(sent.status, 200);
    await acceptInvitation(alice, "Spoilers");
    await alice.getByRole("heading", { name: "Spoilers" }).waitFor(SLOW);
    const message = messageRow(alice, "The butler");
    await message.waitFor(SLOW);
    const withReason = message.getByRole("button", { name: /^Spoiler: the ending/ });
    const noReason = message.getByRole("button", { name: /^Spoiler\. Show/ });
    await withReason.waitFor();
    await noReason.waitFor();
    // Not in the page at all: not visible, not selectable, not found by find-in-page or a screen reader.
    assert.doesNotMatch(await message.textContent(), /did it in the library|was a sled/);
    await shot(alice, "spoiler-hidden");
    await withReason.click();
    await message.getByText("did it in the library").waitFor();
    // Each spoiler is revealed on its own.
    assert.doesNotMatch(await message.textContent(), /was a sled/);
    await noReason.click();
    await message.getByText("was a sled").waitFor();
    assert.equal(await message.locator("[data-spoiler=hidden]").count(), 0);
    assert.deepEqual(alice.errors, []);
  });
});
