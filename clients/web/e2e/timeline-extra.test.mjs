// End to end: search results that jump far back in history, emotes and notices, edit history and
// threads, between two people on the REAL server process in headless Chromium.
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

/** A client-server API call (for the third person, Carol, and to read events back). */
async function api(method, path, body, token, prefix = "/_matrix/client/v3") {
  const r = await fetch(`${hs.baseUrl}${prefix}${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

const tokenOf = async (page) => JSON.parse(await page.evaluate(() => localStorage.getItem("hs.session"))).accessToken;

const log = (page) => page.getByRole("log", { name: "Messages" });
const composer = (page) => page.getByRole("textbox", { name: "Message", exact: true });
/** The row of the message whose own text (not a quote of it) is `text`, in the timeline or `where`. */
const row = (page, text, where = log(page)) =>
  where.locator("li[data-event-id]").filter({ has: page.locator(":scope > div > div", { hasText: text }) }).first();
const panel = (page) => page.getByRole("complementary", { name: "Thread" });
const threadLog = (page) => page.getByRole("log", { name: "Thread messages" });

async function send(page, text, shownAs = text) {
  await composer(page).fill(text);
  await composer(page).press("Enter");
  await log(page).locator('[data-send-state="sent"]', { hasText: shownAs }).first().waitFor(SLOW);
}

/** Waits until the highlighted (jumped-to) message is `text` and stays inside the scrolled timeline. */
async function assertJumpedTo(page, text) {
  const target = log(page).locator("li[data-highlighted]", { hasText: text });
  await target.waitFor(SLOW);
  await page.waitForTimeout(500); // later timeline updates must not pull the view away
  const [box, view] = [await target.boundingBox(), await log(page).boundingBox()];
  assert.ok(box && box.y >= view.y && box.y + box.height <= view.y + view.height, `"${text}" is not on screen`);
}

describe("timeline: search jumps, emotes, edit history, threads", () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // E2E_DIST_DIR: a build of your own, when others rebuild dist/ at the same time.
    hs = await startHomeserver({ distDir: process.env.E2E_DIST_DIR });
    browser = await launchChromium();
    alice = await newPage();
    bob = await newPage();
    await register(alice, "alice");
    await register(bob, "bob");
    await alice.getByRole("button", { name: "New chat" }).click();
    const search = alice.getByLabel("Search people");
    await search.fill("bob");
    const dialog = alice.getByRole("dialog", { name: "New chat" });
    const found = dialog.getByRole("button", { name: /@bob:localhost/ });
    await found.or(dialog.getByText("No one found.")).waitFor();
    if (!(await found.isVisible())) await search.fill("@bob:localhost");
    await found.click();
    await send(alice, "Hello Bob");
    await bob.getByRole("region", { name: "Requests" }).getByRole("button", { name: "Accept" }).click(SLOW);
    await row(bob, "Hello Bob").waitFor(SLOW);
  });

  after(async () => {
    await browser?.close();
    await hs?.stop({ keep: process.env.KEEP_E2E_SERVER === "1" });
  });

  test("/me is sent as an emote and shown as '* alice waves' on the other side; unknown commands are not sent", async () => {
    await send(alice, "/me waves **hello**", "waves hello");
    const emote = row(bob, "waves hello");
    await emote.waitFor(SLOW);
    assert.equal(await emote.getAttribute("data-msgtype"), "emote");
    const body = emote.locator("[data-emote]");
    assert.equal((await body.textContent()).trim(), "* alice waves hello");
    assert.equal(await body.locator("i").textContent(), "alice");
    await body.locator("strong", { hasText: "hello" }).waitFor();
    // The room list preview reads as an emote too.
    await bob.locator("nav[aria-label=Conversations] button", { hasText: "* alice waves **hello**" }).waitFor(SLOW);

    // An unknown command is refused with a hint, and nothing is sent.
    await composer(alice).fill("/shrug whatever");
    await composer(alice).press("Enter");
    const problem = alice.getByRole("alert").filter({ hasText: "Unknown command /shrug" });
    await problem.waitFor();
    assert.match(await problem.textContent(), /\/\/shrug/);
    assert.equal(await composer(alice).inputValue(), "/shrug whatever");
    assert.equal(await log(alice).getByText("shrug whatever").count(), 0);
    // "//" sends the leading slash as text.
    await send(alice, "//shrug is a command elsewhere", "/shrug is a command elsewhere");
    await row(bob, "/shrug is a command elsewhere").waitFor(SLOW);
    assert.equal(await row(bob, "/shrug is a command elsewhere").getAttribute("data-msgtype"), null);
  });

  test("(edited) opens the edit history with every version, newest first", async () => {
    await send(alice, "Meet at the cafe");
    for (const text of ["Meet at the bakery", "Meet at the park"]) {
      await composer(alice).press("ArrowUp");
      await alice.getByRole("group", { name: "Editing" }).waitFor();
      await composer(alice).fill(text);
      await composer(alice).press("Enter");
      await row(bob, text).getByText("(edited)").waitFor(SLOW);
    }
    await row(bob, "Meet at the park").getByRole("button", { name: /edited/ }).click();
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
    await send(bob, "Which movie tonight?");
    const root = row(alice, "Which movie tonight?");
    await root.waitFor(SLOW);
    await root.hover();
    await root.getByRole("button", { name: "Reply in thread" }).click();
    await panel(alice).waitFor();
    await row(alice, "Which movie tonight?", threadLog(alice)).waitFor();
    const reply = alice.getByRole("textbox", { name: "Reply in thread" });
    await reply.fill("The new one, *obviously*");
    await reply.press("Enter");
    await threadLog(alice).locator('[data-send-state="sent"]', { hasText: "The new one, obviously" }).waitFor(SLOW);

    // Bob sees "1 reply" under the root, and the reply in the main timeline marked as in a thread.
    const summary = row(bob, "Which movie tonight?").getByRole("button", { name: "1 reply" });
    await summary.waitFor(SLOW);
    await row(bob, "The new one, obviously").locator("[data-in-thread]").waitFor();
    await summary.click();
    await row(bob, "The new one, obviously", threadLog(bob)).locator("em", { hasText: "obviously" }).waitFor(SLOW);

    // The event carries the thread relation with the rich-reply fallback to the thread's latest message.
    const rootId = await panel(bob).getAttribute("data-thread-panel");
    const token = await tokenOf(bob);
    const rooms = await api("GET", "/joined_rooms", undefined, token);
    const roomId = rooms.json.joined_rooms[0];
    const relations = async () =>
      (await api("GET", `/rooms/${encodeURIComponent(roomId)}/relations/${encodeURIComponent(rootId)}/m.thread`, undefined, token, "/_matrix/client/v1")).json.chunk;
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
    await row(alice, "Sounds good", threadLog(alice)).waitFor(SLOW);
    await row(alice, "Which movie tonight?").getByRole("button", { name: "2 replies" }).waitFor(SLOW);
    const latest = (await relations())[0];
    assert.equal(latest.content["m.relates_to"]["m.in_reply_to"].event_id, first.event_id);
    assert.equal(latest.content["m.relates_to"].is_falling_back, true);

    await row(bob, "Sounds good", threadLog(bob)).waitFor(SLOW);
    await bob.mouse.move(1, 1);
    await shot(bob, "thread-panel");
    await bob.setViewportSize(PHONE);
    await panel(bob).getByRole("button", { name: "Back to conversation" }).waitFor();
    await shot(bob, "thread-panel");
    const width = await bob.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    await panel(bob).getByRole("button", { name: "Back to conversation" }).click();
    await panel(bob).waitFor({ state: "detached" });
    await bob.setViewportSize(DESKTOP);
    await panel(alice).getByRole("button", { name: "Close thread" }).click();
    await panel(alice).waitFor({ state: "detached" });
  });

  test("a search result 200 messages back opens the conversation there, highlighted; Jump to latest returns", async () => {
    let reg = await api("POST", "/register", { username: "carol", password: PASSWORD });
    reg = await api("POST", "/register", { username: "carol", password: PASSWORD, auth: { type: "m.login.dummy", session: reg.json.session } });
    assert.equal(reg.status, 200, JSON.stringify(reg.json));
    const token = reg.json.access_token;
    const room = await api("POST", "/createRoom", { name: "Archive", invite: ["@alice:localhost"], preset: "private_chat" }, token);
    const roomPath = `/rooms/${encodeURIComponent(room.json.room_id)}`;
    const put = async (txn, content) => assert.equal((await api("PUT", `${roomPath}/send/m.room.message/${txn}`, content, token)).status, 200);
    await put("secret", { msgtype: "m.text", body: "The secret word is pumpernickel" });
    for (let i = 1; i <= 200; i++) await put(`f${i}`, { msgtype: "m.text", body: `Filler message ${i}` });
    await put("notice", { msgtype: "m.notice", body: "Nightly build passed" });

    await alice.getByRole("region", { name: "Requests" }).getByRole("button", { name: "Accept" }).click(SLOW);
    const notice = row(alice, "Nightly build passed");
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
    assert.equal(await row(alice, /^Filler message 150$/).count(), 0, "the messages in between are not loaded");
    assert.equal(await row(alice, "Nightly build passed").count(), 0);
    await shot(alice, "search-jump");

    await alice.getByRole("button", { name: "Jump to latest" }).click();
    await row(alice, "Nightly build passed").waitFor(SLOW);
    await alice.getByRole("button", { name: "Jump to latest" }).waitFor({ state: "detached" });
    const [box, view] = [await row(alice, "Nightly build passed").boundingBox(), await log(alice).boundingBox()];
    assert.ok(box.y + box.height <= view.y + view.height + 1 && box.y >= view.y, "the newest message is on screen");
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
