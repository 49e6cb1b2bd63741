// End to end: the conversation timeline (replies, reactions, edits, deletion, typing, receipts,
// Markdown) between two people in an encrypted DM, on the REAL server process in headless Chromium.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CLIENT_DIR, launchChromium, startHomeserver } from "./homeserver.mjs";

const SHOTS = join(CLIENT_DIR, "test-results", "screenshots");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PASSWORD = "correct horse battery staple";
const SETTLED_CRYPTO = ["ready", "needs-setup", "needs-recovery-key", "needs-recovery-setup", "needs-verification", "unavailable"];
const SLOW = { timeout: 30_000 };

let hs;
let browser;
let alice;
let bob;

async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, baseURL: hs.baseUrl });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.chunks = [];
  page.on("request", (r) => r.url().includes("/assets/") && page.chunks.push(r.url()));
  return page;
}

async function shot(page, name) {
  const size = page.viewportSize().width < 600 ? "phone" : "desktop";
  await page.screenshot({ path: join(SHOTS, `${name}-${size}.png`) });
}

async function register(page, name) {
  await page.goto("/");
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Confirm password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Chats", includeHidden: true }).waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    (settled) => settled.includes(document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus),
    SETTLED_CRYPTO,
    { timeout: 60_000 },
  );
  const saved = page.getByRole("button", { name: "I saved it" });
  if (await saved.isVisible()) await saved.click();
}

const log = (page) => page.getByRole("log", { name: "Messages" });
const composer = (page) => page.getByRole("textbox", { name: "Message" });
/** The row of the message whose own text (not a quote of it) is `text`. */
const row = (page, text) =>
  log(page).locator("li[data-event-id]").filter({ has: page.locator(":scope > div > div", { hasText: text }) }).first();
const chip = (page, text, key) => row(page, text).locator(`button[data-reaction="${key}"]`);

async function send(page, text, shownAs = text) {
  await composer(page).fill(text);
  await composer(page).press("Enter");
  await log(page).locator('[data-send-state="sent"]', { hasText: shownAs }).first().waitFor(SLOW);
}

async function chipState(page, text, key) {
  const c = chip(page, text, key);
  return { count: (await c.locator("[data-count]").textContent()).trim(), pressed: await c.getAttribute("aria-pressed") };
}

/** Waits until the highlighted (jumped-to) message is `text` and stays inside the scrolled timeline. */
async function assertJumpedTo(page, text) {
  const target = log(page).locator("li[data-highlighted]", { hasText: text });
  await target.waitFor(SLOW);
  await page.waitForTimeout(500); // later timeline updates must not pull the view away
  const [box, view] = [await target.boundingBox(), await log(page).boundingBox()];
  assert.ok(box && box.y >= view.y && box.y + box.height <= view.y + view.height, `"${text}" is not on screen`);
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
    mkdirSync(SHOTS, { recursive: true });
    hs = await startHomeserver();
    browser = await launchChromium();
    alice = await newPage();
    bob = await newPage();
    await register(alice, "alice");
    await register(bob, "bob");
    // Alice opens an encrypted DM with Bob, who accepts it.
    await alice.getByRole("button", { name: "New chat" }).click();
    const search = alice.getByLabel("Search people");
    await search.fill("bob");
    const dialog = alice.getByRole("dialog", { name: "New chat" });
    const found = dialog.getByRole("button", { name: /@bob:localhost/ });
    await found.or(dialog.getByText("No one found.")).waitFor();
    if (!(await found.isVisible())) await search.fill("@bob:localhost");
    await found.click();
    await send(alice, "Lunch at noon?");
    const requests = bob.getByRole("region", { name: "Requests" });
    await requests.getByRole("button", { name: "Accept" }).click(SLOW);
    await row(bob, "Lunch at noon?").waitFor(SLOW);
  });

  after(async () => {
    await browser?.close();
    await hs?.stop({ keep: process.env.KEEP_E2E_SERVER === "1" });
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
    const original = row(bob, "Lunch at noon?");
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
    await send(bob, "Yes, see you there");
    for (const page of [alice, bob]) {
      const quote = row(page, "Yes, see you there").locator("[data-reply-quote]");
      await quote.filter({ hasText: "Lunch at noon?" }).waitFor(SLOW);
      assert.match(await quote.getAttribute("aria-label"), /In reply to alice: Lunch at noon\?/);
    }
    await row(alice, "Yes, see you there").locator("[data-reply-quote]").click();
    await assertJumpedTo(alice, "Lunch at noon?");
  });

  test("a reaction round-trips with counts, highlight, toggling and the full picker", async () => {
    const target = "Yes, see you there";
    await row(alice, target).hover();
    await row(alice, target).getByRole("button", { name: "React with 👍" }).click();
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
    await row(bob, "Lunch at noon?").hover();
    await row(bob, "Lunch at noon?").getByRole("button", { name: "More reactions" }).click();
    const picker = bob.getByRole("dialog", { name: "Add a reaction" });
    await picker.getByRole("searchbox", { name: "Search emoji" }).fill("tada");
    await picker.getByRole("button", { name: /party popper/ }).click();
    await picker.waitFor({ state: "detached" });
    assert.equal(bob.chunks.filter((u) => u.includes("EmojiPicker")).length, 1);
    await waitForChip(alice, "Lunch at noon?", "🎉", { count: "1", pressed: "false" });
  });

  test("Markdown is sent as HTML and shown formatted", async () => {
    await send(alice, "This is **important** and `code` and https://example.org/x", "This is important and code");
    const message = row(bob, "important");
    await message.locator("strong", { hasText: "important" }).waitFor(SLOW);
    await message.locator("code", { hasText: "code" }).waitFor();
    assert.equal(await message.locator('a[href="https://example.org/x"]').getAttribute("rel"), "noreferrer noopener");
  });

  test("Up arrow edits the last message; the other side shows the new text with (edited)", async () => {
    await send(alice, "Meet at the cafe");
    await composer(alice).press("ArrowUp");
    await alice.getByRole("group", { name: "Editing" }).getByText("Editing message").waitFor();
    assert.equal(await composer(alice).inputValue(), "Meet at the cafe");
    await composer(alice).fill("Meet at the bakery");
    await composer(alice).press("Enter");
    await row(bob, "Meet at the bakery").getByText("(edited)").waitFor(SLOW);
    await row(alice, "Meet at the bakery").getByText("(edited)").waitFor(SLOW);
    assert.equal(await log(bob).getByText("Meet at the cafe").count(), 0);
    assert.equal(await log(bob).getByText("* Meet at the bakery").count(), 0, "the edit event itself is not drawn");
  });

  test("a deleted message disappears on both sides after a confirmation", async () => {
    await send(alice, "Oops, wrong chat");
    await row(bob, "Oops, wrong chat").waitFor(SLOW);
    await row(alice, "Oops, wrong chat").hover();
    await row(alice, "Oops, wrong chat").getByRole("button", { name: "Delete" }).click();
    const confirm = alice.getByRole("dialog", { name: "Delete message?" });
    await confirm.getByRole("button", { name: "Delete" }).click();
    await confirm.waitFor({ state: "detached" });
    for (const page of [alice, bob]) {
      await log(page).getByText("Oops, wrong chat").waitFor({ state: "detached", ...SLOW });
      await log(page).getByText("Message deleted").waitFor(SLOW);
    }
  });

  test("read receipts show who has read up to a message", async () => {
    await send(bob, "Read this please");
    await row(alice, "Read this please").waitFor(SLOW);
    // Alice's client sends a receipt as it shows the message; Bob sees her avatar on it.
    await log(bob).locator('[data-read-by~="@alice:localhost"]').last().waitFor(SLOW);
    const marked = row(bob, "Read this please").locator('[data-read-by~="@alice:localhost"]');
    await marked.waitFor(SLOW);
    assert.equal(await marked.getAttribute("aria-label"), "Read by alice");
  });

  test("keyboard: a message's actions are reachable without a mouse", async () => {
    await alice.mouse.move(1, 1);
    const message = row(alice, "Read this please");
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
    await row(alice, "Yes, see you there").hover();
    await shot(alice, "timeline");
    await bob.setViewportSize(PHONE);
    await row(bob, "Lunch at noon?").waitFor();
    await log(bob).evaluate((el) => (el.scrollTop = el.scrollHeight));
    await bob.mouse.move(1, 1);
    await bob.waitForTimeout(500); // the hover toolbar fades out
    await shot(bob, "timeline");
    const width = await bob.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });

  test("a button jumps to the first unread message when it is above the screen", async () => {
    // Bob (on a phone) goes back to his list while Alice writes more than a screenful.
    await bob.getByRole("button", { name: "Back to conversations" }).click();
    for (let i = 1; i <= 20; i++) {
      await composer(alice).fill(`Unread number ${i}`);
      await composer(alice).press("Enter");
    }
    await log(alice).locator('[data-send-state="sent"]', { hasText: "Unread number 20" }).waitFor(SLOW);
    const entry = bob.locator("nav[aria-label=Conversations] button", { hasText: "Unread number 20" });
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
    const api = async (method, path, body, token) => {
      const r = await fetch(`${hs.baseUrl}/_matrix/client/v3${path}`, {
        method,
        headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, json: await r.json() };
    };
    let reg = await api("POST", "/register", { username: "carol", password: PASSWORD });
    reg = await api("POST", "/register", { username: "carol", password: PASSWORD, auth: { type: "m.login.dummy", session: reg.json.session } });
    assert.equal(reg.status, 200, JSON.stringify(reg.json));
    const token = reg.json.access_token;
    const room = await api("POST", "/createRoom", { name: "Archive", invite: ["@alice:localhost"], preset: "private_chat" }, token);
    const roomPath = `/rooms/${encodeURIComponent(room.json.room_id)}`;
    let firstId;
    for (let i = 1; i <= 100; i++) {
      const sent = await api("PUT", `${roomPath}/send/m.room.message/a${i}`, { msgtype: "m.text", body: `Archived message ${i}` }, token);
      assert.equal(sent.status, 200);
      if (i === 1) firstId = sent.json.event_id;
    }
    const reply = {
      msgtype: "m.text",
      // An old-style fallback, which the client must strip.
      body: "> <@carol:localhost> Archived message 1\n\nStill true today",
      "m.relates_to": { "m.in_reply_to": { event_id: firstId } },
    };
    assert.equal((await api("PUT", `${roomPath}/send/m.room.message/reply`, reply, token)).status, 200);

    await alice.setViewportSize(DESKTOP);
    const requests = alice.getByRole("region", { name: "Requests" });
    await requests.getByText("Archive").waitFor(SLOW);
    await requests.getByRole("button", { name: "Accept" }).click();
    const replyRow = row(alice, "Still true today");
    await replyRow.waitFor(SLOW);
    assert.equal(await log(alice).getByText("> <@carol:localhost>").count(), 0, "the reply fallback is stripped");
    const quote = replyRow.locator("[data-reply-quote]");
    await quote.filter({ hasText: "Archived message 1" }).waitFor(SLOW); // fetched: not in the loaded timeline
    const bubbleOfFirst = log(alice).locator("li[data-event-id] > div > div", { hasText: /^Archived message 1$/ });
    assert.equal(await bubbleOfFirst.count(), 0, "the original is not loaded before the jump");
    await quote.click();
    await assertJumpedTo(alice, "Archived message 1");
    await shot(alice, "reply-jump-history");
  });
});
