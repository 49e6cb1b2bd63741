// End to end: the member side panel and member profiles (roles, remove, direct message), on desktop and
// phone, and a big room drawn lazily with avatars fetched only for rows on screen.
// The built client served by the REAL homeserver process, driven in headless Chromium.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { CLIENT_DIR, launchChromium, startHomeserver } from "./homeserver.mjs";

const SHOTS = join(CLIENT_DIR, "test-results", "screenshots");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PASSWORD = "correct horse battery staple";
const SETTLED_CRYPTO = ["ready", "needs-setup", "needs-recovery-key", "needs-recovery-setup", "needs-verification", "unavailable"];
const GROUP = "Reading room";
const BIG_ROOM = "Big room";
const BIG_ROOM_PEOPLE = 70;

let hs;
let browser;
const users = {};

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
  await page.locator("[data-crypto-status]").waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    (settled) => settled.includes(document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus),
    SETTLED_CRYPTO,
    { timeout: 60_000 },
  );
  const saved = page.getByRole("button", { name: "I saved it" });
  if (await saved.isVisible()) {
    // The key backup is made once the user says they saved the recovery key.
    await saved.click();
    await page.waitForFunction(() => document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus === "ready", undefined, { timeout: 60_000 });
  }
}

async function api(method, path, body, token, prefix = "/_matrix/client/v3") {
  const raw = body instanceof Uint8Array;
  const r = await fetch(`${hs.baseUrl}${prefix}${path}`, {
    method,
    headers: {
      "Content-Type": raw ? "image/png" : "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

async function registerByApi(username) {
  let reg = await api("POST", "/register", { username, password: PASSWORD });
  reg = await api("POST", "/register", { username, password: PASSWORD, auth: { type: "m.login.dummy", session: reg.json.session } });
  assert.equal(reg.status, 200, JSON.stringify(reg.json));
  return reg.json.access_token;
}

/** A tiny one-colour PNG, different for each `n`, so every avatar has its own media. */
function tinyPng(n) {
  const crcTable = Array.from({ length: 256 }, (_, i) => {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const all = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(all));
    return Buffer.concat([len, all, crc]);
  };
  const size = 8;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) raw.set([n % 256, (n * 7) % 256, 200], y * (size * 3 + 1) + 1 + x * 3);
  return new Uint8Array(Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]));
}

const panel = (page) => page.getByRole("complementary", { name: "Members", exact: true });
const profile = (page) => page.getByRole("complementary", { name: "Member details" });
const row = (page, userId) => panel(page).locator(`[data-member-id="${userId}"]`);
const membersButton = (page) => page.getByRole("button", { name: "Members", exact: true });
// The direct chat with bob, open in the conversation pane (named by bob, or by his ID while invited).
const dmHeading = (page) => page.getByRole("main").getByRole("heading", { name: /^(bob|@bob:localhost)$/ });
const conversations = (page) => page.locator("nav[aria-label=Conversations] button");

async function openConversation(page, name) {
  await conversations(page).filter({ hasText: name }).first().click();
  await page.getByRole("heading", { name, exact: true }).waitFor();
}

/** Opens the member panel unless it is open already (it remembers being open). */
async function openPanel(page) {
  if (!(await panel(page).isVisible())) await membersButton(page).click();
  await panel(page).getByLabel("Filter members").waitFor();
}

/** Accepts the one pending invitation (to `roomName`); accepting opens the conversation. */
async function acceptInvite(page, roomName) {
  const requests = page.getByRole("region", { name: "Requests" });
  await requests.getByText(roomName).waitFor({ timeout: 30_000 });
  await requests.getByRole("button", { name: "Accept" }).click();
  await page.getByRole("heading", { name: roomName, exact: true }).waitFor({ timeout: 30_000 });
}

describe("member panel and profiles", () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // E2E_DIST_DIR: a build of your own, when others rebuild dist/ at the same time.
    hs = await startHomeserver({ distDir: process.env.E2E_DIST_DIR });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await hs?.stop({ keep: process.env.KEEP_E2E_SERVER === "1" });
  });

  test("three people register; alice makes a group, bob and carol join, dave is only invited", async () => {
    users.dave = await registerByApi("dave");
    for (const name of ["alice", "bob", "carol"]) {
      users[name] = await newPage();
      await register(users[name], name);
    }
    const page = users.alice;
    await page.getByRole("button", { name: "New group" }).click();
    await page.getByLabel("Name").fill(GROUP);
    await page.getByLabel(/Invite/).fill("bob, carol, dave");
    await page.getByRole("button", { name: "Create group" }).click();
    await page.getByRole("heading", { name: GROUP }).waitFor();
    await acceptInvite(users.bob, GROUP);
    await acceptInvite(users.carol, GROUP);
  });

  test("the panel shows joined members with presence and badges, and the invited, beside the conversation", async () => {
    const page = users.alice;
    await openConversation(page, GROUP);
    await membersButton(page).click();
    assert.equal(await membersButton(page).getAttribute("aria-pressed"), "true");
    const joined = panel(page).getByRole("list", { name: "Joined" });
    const invited = panel(page).getByRole("list", { name: "Invited" });
    for (const who of ["alice", "bob", "carol"]) await joined.locator(`[data-member-id="@${who}:localhost"]`).waitFor({ timeout: 30_000 });
    await invited.locator('[data-member-id="@dave:localhost"]').waitFor();
    assert.equal(await joined.locator("li").count(), 3);
    assert.equal(await invited.locator("li").count(), 1);
    // Everyone here has a live sync: once presence arrives they are online (sorted first, by name).
    await page.waitForFunction(() =>
      ["bob", "carol"].every((w) => document.querySelector(`[data-member-id="@${w}:localhost"]`)?.dataset.presence === "online"),
    undefined, { timeout: 30_000 });
    assert.deepEqual(
      await joined.locator("li").evaluateAll((items) => items.map((li) => li.dataset.memberId)),
      ["@alice:localhost", "@bob:localhost", "@carol:localhost"],
    );
    assert.equal(await row(page, "@alice:localhost").getAttribute("data-role"), "Admin");
    await row(page, "@alice:localhost").getByText("Admin", { exact: true }).waitFor();
    assert.equal(await row(page, "@bob:localhost").getAttribute("data-role"), "User");
    // The conversation stays usable beside the panel.
    assert.ok(await page.getByRole("textbox", { name: "Message" }).isVisible());
    // The filter box.
    await panel(page).getByLabel("Filter members").fill("car");
    await joined.locator("li").first().waitFor();
    assert.deepEqual(await joined.locator("li").evaluateAll((items) => items.map((li) => li.dataset.memberId)), ["@carol:localhost"]);
    assert.equal(await invited.count(), 0);
    await panel(page).getByLabel("Filter members").fill("");
    await shot(page, "member-panel");
    // The panel is remembered: still open after a reload.
    await page.reload();
    await openConversation(page, GROUP);
    await row(page, "@bob:localhost").waitFor({ timeout: 30_000 });
    assert.deepEqual(page.errors, []);
  });

  test("a member's profile shows who they are, their sessions, and what we may do", async () => {
    const page = users.alice;
    await row(page, "@carol:localhost").getByRole("button").click();
    const details = profile(page);
    await details.getByRole("heading", { name: "carol" }).waitFor();
    await details.getByText("@carol:localhost").waitFor();
    assert.match(await details.getByTestId("member-presence").textContent(), /Online|Away|Offline/);
    assert.match(await details.getByTestId("member-power").textContent(), /User/);
    for (const action of ["Message", "Block", "Remove from room", "Ban"]) await details.getByRole("button", { name: action, exact: true }).waitFor();
    const sessions = details.getByRole("list", { name: "Their sessions" });
    await sessions.locator("li").first().waitFor({ timeout: 30_000 });
    assert.match(await details.getByTestId("member-verification").textContent(), /Not verified by you/);
    await shot(page, "member-profile");
    // Bob, a plain user, is offered no power over carol.
    await openConversation(users.bob, GROUP);
    await openPanel(users.bob);
    await row(users.bob, "@carol:localhost").getByRole("button").click();
    await profile(users.bob).getByRole("heading", { name: "carol" }).waitFor();
    for (const action of ["Remove from room", "Ban"]) assert.equal(await profile(users.bob).getByRole("button", { name: action }).count(), 0);
    assert.equal(await profile(users.bob).getByLabel("Role in this conversation").count(), 0);
    await profile(users.bob).getByRole("button", { name: "Back to members" }).click();
    await row(users.bob, "@carol:localhost").waitFor();
  });

  test("an admin makes carol a moderator (after confirming) and bob sees the badge", async () => {
    const page = users.alice;
    const details = profile(page);
    await details.getByLabel("Role in this conversation").selectOption("moderator");
    const confirm = details.getByRole("group", { name: "Make carol a Moderator?" });
    await confirm.waitFor();
    await confirm.getByRole("button", { name: "Change role" }).click();
    await details.getByTestId("member-power").getByText("Moderator", { exact: true }).first().waitFor({ timeout: 30_000 });
    assert.equal(await confirm.count(), 0);
    await users.bob.waitForFunction(() => document.querySelector('[data-member-id="@carol:localhost"]')?.dataset.role === "Moderator", undefined, { timeout: 30_000 });
    await row(users.bob, "@carol:localhost").getByText("Moderator", { exact: true }).waitFor();
  });

  test("removing carol takes her out; she is told, and the conversation leaves her list", async () => {
    const page = users.alice;
    const carol = users.carol;
    await openConversation(carol, GROUP);
    const details = profile(page);
    await details.getByRole("button", { name: "Remove from room" }).click();
    const confirm = details.getByRole("group", { name: "Remove carol from this conversation?" });
    await confirm.getByLabel(/Reason/).fill("Testing the panel");
    await confirm.getByRole("button", { name: "Remove", exact: true }).click();
    await details.getByText("Not in this conversation").waitFor({ timeout: 30_000 });
    await details.getByRole("button", { name: "Back to members" }).click();
    await row(page, "@carol:localhost").waitFor({ state: "detached", timeout: 30_000 });
    await row(users.bob, "@carol:localhost").waitFor({ state: "detached", timeout: 30_000 });
    // Carol: a notice says who removed her and why; the group leaves her list and closes.
    await carol.getByRole("status").filter({ hasText: `alice removed you from ${GROUP}. Reason: Testing the panel` }).waitFor({ timeout: 30_000 });
    await shot(carol, "member-removed");
    await conversations(carol).filter({ hasText: GROUP }).waitFor({ state: "detached", timeout: 30_000 });
    await carol.getByRole("heading", { name: GROUP }).waitFor({ state: "detached" });
  });

  test("Message on a profile opens the direct chat, creating it only the first time", async () => {
    const page = users.alice;
    await row(page, "@bob:localhost").getByRole("button").click();
    const before = await conversations(page).count();
    await profile(page).getByRole("button", { name: "Message", exact: true }).click();
    await dmHeading(page).waitFor({ timeout: 30_000 });
    await conversations(page).nth(before).waitFor({ timeout: 30_000 });
    assert.equal(await conversations(page).count(), before + 1);
    // The panel follows to the new conversation and lists its members.
    await row(page, "@alice:localhost").waitFor({ timeout: 30_000 });
    await users.bob.getByRole("region", { name: "Requests" }).getByText("alice").first().waitFor({ timeout: 30_000 });
    // A second time: the same chat, no new room.
    await openConversation(page, GROUP);
    await row(page, "@bob:localhost").getByRole("button").click();
    await profile(page).getByRole("button", { name: "Message", exact: true }).click();
    await dmHeading(page).waitFor({ timeout: 30_000 });
    assert.equal(await conversations(page).count(), before + 1);
    // The header button closes the panel; closed is remembered too.
    await membersButton(page).click();
    await panel(page).waitFor({ state: "detached" });
    assert.equal(await membersButton(page).getAttribute("aria-pressed"), "false");
    await page.reload();
    await openConversation(page, GROUP);
    assert.equal(await panel(page).count(), 0);
  });

  test("on a phone the panel is a full-screen view with back buttons", async () => {
    const page = users.alice;
    await page.setViewportSize(PHONE);
    const back = page.getByRole("button", { name: "Back to conversations" });
    if (await back.isVisible()) await back.click();
    await openConversation(page, GROUP);
    await membersButton(page).click();
    await row(page, "@bob:localhost").waitFor();
    assert.equal(await page.getByRole("log", { name: "Messages" }).isVisible(), false, "the panel covers the conversation on a phone");
    assert.equal(await panel(page).getByRole("button", { name: "Close panel" }).isVisible(), false);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    await shot(page, "member-panel");
    await row(page, "@bob:localhost").getByRole("button").click();
    await profile(page).getByRole("heading", { name: "bob" }).waitFor();
    await profile(page).getByRole("list", { name: "Their sessions" }).locator("li").first().waitFor({ timeout: 30_000 });
    await shot(page, "member-profile");
    await profile(page).getByRole("button", { name: "Back to members" }).click();
    await panel(page).getByRole("button", { name: "Back to conversation" }).click();
    await page.getByRole("log", { name: "Messages" }).waitFor();
    await panel(page).waitFor({ state: "detached" });
    await page.setViewportSize(DESKTOP);
  });

  test("a big room draws 50 rows, then more on scroll, and fetches avatars only for rows on screen", async (t) => {
    const { accessToken: aliceToken } = JSON.parse(await users.alice.evaluate(() => localStorage.getItem("hs.session")));
    const tokens = [];
    for (let i = 0; i < BIG_ROOM_PEOPLE; i += 10) {
      tokens.push(...(await Promise.all(Array.from({ length: Math.min(10, BIG_ROOM_PEOPLE - i) }, (_, j) => registerByApi(`reader${String(i + j).padStart(2, "0")}`)))));
    }
    const created = await api("POST", "/createRoom", { name: BIG_ROOM, preset: "public_chat" }, tokens[0]);
    const roomId = created.json.room_id;
    for (let i = 0; i < tokens.length; i += 10) {
      await Promise.all(tokens.slice(i, i + 10).map(async (token, j) => {
        const upload = await api("POST", "/upload", tinyPng(i + j), token, "/_matrix/media/v3");
        assert.equal(upload.status, 200, JSON.stringify(upload.json));
        const userId = `@reader${String(i + j).padStart(2, "0")}:localhost`;
        assert.equal((await api("PUT", `/profile/${encodeURIComponent(userId)}/avatar_url`, { avatar_url: upload.json.content_uri }, token)).status, 200);
        if (i + j > 0) assert.equal((await api("POST", `/join/${encodeURIComponent(roomId)}`, {}, token)).status, 200);
      }));
    }
    assert.equal((await api("POST", `/join/${encodeURIComponent(roomId)}`, {}, aliceToken)).status, 200);

    const page = users.alice;
    const thumbnails = new Set();
    page.on("request", (r) => {
      const m = /\/_matrix\/client\/v1\/media\/thumbnail\/([^?]+)/.exec(r.url());
      if (m) thumbnails.add(m[1]);
    });
    await conversations(page).filter({ hasText: BIG_ROOM }).first().waitFor({ timeout: 30_000 });
    await openConversation(page, BIG_ROOM);
    await membersButton(page).click();
    const joined = panel(page).getByRole("list", { name: "Joined" });
    await joined.locator("li").nth(49).waitFor({ timeout: 30_000 });
    assert.equal(await joined.locator("li").count(), 50, "the first 50 rows only");
    await panel(page).getByText(`${BIG_ROOM_PEOPLE + 1 - 50} more…`).waitFor();
    // Pictures for the rows near the top arrive; those far below are not downloaded.
    await joined.locator("li [data-avatar-id] img").first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1000);
    const early = thumbnails.size;
    assert.ok(early > 0 && early < 40, `only avatars on screen are fetched (${early} of ${BIG_ROOM_PEOPLE})`);
    const scroller = panel(page).getByTestId("member-scroller");
    for (let i = 0; i < 20 && (await joined.locator("li").count()) < BIG_ROOM_PEOPLE + 1; i++) {
      await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
      await page.waitForTimeout(200);
    }
    assert.equal(await joined.locator("li").count(), BIG_ROOM_PEOPLE + 1);
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await row(page, "@reader69:localhost").locator("img").waitFor({ timeout: 30_000 });
    assert.ok(thumbnails.size > early, "scrolling fetches the avatars that came into view");
    assert.ok(thumbnails.size < BIG_ROOM_PEOPLE, `rows scrolled past quickly are not all fetched (${thumbnails.size})`);
    t.diagnostic(`avatar thumbnails fetched: ${early} at first, ${thumbnails.size} after scrolling, of ${BIG_ROOM_PEOPLE}`);
    await membersButton(page).click();
  });
});
