// End to end: the member side panel and member profiles (roles, remove, direct message), on desktop and
// phone, and a big room drawn lazily with avatars fetched only for rows on screen.
// The built client served by the REAL homeserver process, driven in headless Chromium.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  DESKTOP, PHONE, SLOW, acceptInvitation, assertNoHorizontalScroll, encodePng, messageLog, register, roomListEntries, shot, startEnvironment,
  storedSession,
} from "./support.mjs";

const GROUP = "Reading room";
const BIG_ROOM = "Big room";
const BIG_ROOM_PEOPLE = 70;

let env;
const users = {};

/** A tiny one-colour PNG, different for each `n`, so every avatar has its own media. */
function tinyPng(n) {
  return new Uint8Array(encodePng(8, 8, () => [n % 256, (n * 7) % 256, 200]));
}

const panel = (page) => page.getByRole("complementary", { name: "Members", exact: true });
const profile = (page) => page.getByRole("complementary", { name: "Member details" });
const row = (page, userId) => panel(page).locator(`[data-member-id="${userId}"]`);
const membersButton = (page) => page.getByRole("button", { name: "Members", exact: true });
// The direct chat with bob, open in the conversation pane (named by bob, or by his ID while invited).
const dmHeading = (page) => page.getByRole("main").getByRole("heading", { name: /^(bob|@bob:localhost)$/ });

async function openConversation(page, name) {
  await roomListEntries(page, name).first().click();
  await page.getByRole("heading", { name, exact: true }).waitFor();
}

/** Opens the member panel unless it is open already (it remembers being open). */
async function openPanel(page) {
  if (!(await panel(page).isVisible())) await membersButton(page).click();
  await panel(page).getByLabel("Filter members").waitFor();
}

/** Accepts the one pending invitation (to `roomName`); accepting opens the conversation. */
async function acceptInvite(page, roomName) {
  await acceptInvitation(page, roomName);
  await page.getByRole("heading", { name: roomName, exact: true }).waitFor(SLOW);
}

describe("member panel and profiles", () => {
  before(async () => {
    env = await startEnvironment();
  });

  after(async () => {
    await env?.stop();
  });

  test("three people register; alice makes a group, bob and carol join, dave is only invited", async () => {
    users.dave = await env.registerByApi("dave");
    for (const name of ["alice", "bob", "carol"]) {
      users[name] = await env.newPage();
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
    await roomListEntries(carol, GROUP).waitFor({ state: "detached", timeout: 30_000 });
    await carol.getByRole("heading", { name: GROUP }).waitFor({ state: "detached" });
  });

  test("Message on a profile opens the direct chat, creating it only the first time", async () => {
    const page = users.alice;
    await row(page, "@bob:localhost").getByRole("button").click();
    const before = await roomListEntries(page).count();
    await profile(page).getByRole("button", { name: "Message", exact: true }).click();
    await dmHeading(page).waitFor({ timeout: 30_000 });
    await roomListEntries(page).nth(before).waitFor({ timeout: 30_000 });
    assert.equal(await roomListEntries(page).count(), before + 1);
    // The panel follows to the new conversation and lists its members.
    await row(page, "@alice:localhost").waitFor({ timeout: 30_000 });
    await users.bob.getByRole("region", { name: "Requests" }).getByText("alice").first().waitFor({ timeout: 30_000 });
    // A second time: the same chat, no new room.
    await openConversation(page, GROUP);
    await row(page, "@bob:localhost").getByRole("button").click();
    await profile(page).getByRole("button", { name: "Message", exact: true }).click();
    await dmHeading(page).waitFor({ timeout: 30_000 });
    assert.equal(await roomListEntries(page).count(), before + 1);
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
    assert.equal(await messageLog(page).isVisible(), false, "the panel covers the conversation on a phone");
    assert.equal(await panel(page).getByRole("button", { name: "Close panel" }).isVisible(), false);
    await assertNoHorizontalScroll(page);
    await shot(page, "member-panel");
    await row(page, "@bob:localhost").getByRole("button").click();
    await profile(page).getByRole("heading", { name: "bob" }).waitFor();
    await profile(page).getByRole("list", { name: "Their sessions" }).locator("li").first().waitFor({ timeout: 30_000 });
    await shot(page, "member-profile");
    await profile(page).getByRole("button", { name: "Back to members" }).click();
    await panel(page).getByRole("button", { name: "Back to conversation" }).click();
    await messageLog(page).waitFor();
    await panel(page).waitFor({ state: "detached" });
    await page.setViewportSize(DESKTOP);
  });

  test("a big room draws 50 rows, then more on scroll, and fetches avatars only for rows on screen", async (t) => {
    const { accessToken: aliceToken } = await storedSession(users.alice);
    const tokens = [];
    for (let i = 0; i < BIG_ROOM_PEOPLE; i += 10) {
      tokens.push(...(await Promise.all(Array.from({ length: Math.min(10, BIG_ROOM_PEOPLE - i) }, (_, j) => env.registerByApi(`reader${String(i + j).padStart(2, "0")}`)))));
    }
    const created = await env.api("POST", "/createRoom", { name: BIG_ROOM, preset: "public_chat" }, tokens[0]);
    const roomId = created.json.room_id;
    for (let i = 0; i < tokens.length; i += 10) {
      await Promise.all(tokens.slice(i, i + 10).map(async (token, j) => {
        const upload = await env.api("POST", "/upload", tinyPng(i + j), token, { prefix: "/_matrix/media/v3", contentType: "image/png" });
        assert.equal(upload.status, 200, JSON.stringify(upload.json));
        const userId = `@reader${String(i + j).padStart(2, "0")}:localhost`;
        assert.equal((await env.api("PUT", `/profile/${encodeURIComponent(userId)}/avatar_url`, { avatar_url: upload.json.content_uri }, token)).status, 200);
        if (i + j > 0) assert.equal((await env.api("POST", `/join/${encodeURIComponent(roomId)}`, {}, token)).status, 200);
      }));
    }
    assert.equal((await env.api("POST", `/join/${encodeURIComponent(roomId)}`, {}, aliceToken)).status, 200);

    const page = users.alice;
    const thumbnails = new Set();
    page.on("request", (r) => {
      const m = /\/_matrix\/client\/v1\/media\/thumbnail\/([^?]+)/.exec(r.url());
      if (m) thumbnails.add(m[1]);
    });
    await roomListEntries(page, BIG_ROOM).first().waitFor({ timeout: 30_000 });
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
