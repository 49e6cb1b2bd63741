// End to end: files and images (encrypted), profile, settings, the member list, blocking, search.
// The built client served by the REAL homeserver process, driven in headless Chromium.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { CLIENT_DIR, launchChromium, startHomeserver } from "./homeserver.mjs";

const SHOTS = join(CLIENT_DIR, "test-results", "screenshots");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PASSWORD = "correct horse battery staple";
const SETTLED_CRYPTO = ["ready", "needs-setup", "needs-recovery-key", "unavailable"];
const UPLOAD_LIMIT = 2 * 1024 * 1024;

let hs;
let browser;
const users = {};

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

/** A real PNG (RGB gradient), so the browser decodes it and we can compare pixels and bytes. */
function makePng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
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
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 255) / width;
      raw[row + 2 + x * 3] = (y * 255) / height;
      raw[row + 3 + x * 3] = 128;
    }
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, baseURL: hs.baseUrl, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
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
  // (Not the "Chats" heading: the recovery key dialog may already hide it from the accessibility tree.)
  await page.locator("[data-crypto-status]").waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    (settled) => settled.includes(document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus),
    SETTLED_CRYPTO,
    { timeout: 60_000 },
  );
  const saved = page.getByRole("button", { name: "I saved it" });
  if (await saved.isVisible()) await saved.click();
}

function timeline(page) {
  return page.getByRole("log", { name: "Messages" });
}

async function openMenu(page, item) {
  await page.getByRole("button", { name: "Settings", exact: true }).click();
  await page.getByRole("menuitem", { name: item }).click();
}

describe("files, profile, members, blocking and search", () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // E2E_DIST_DIR: a build of your own, when others rebuild dist/ at the same time.
    hs = await startHomeserver({ distDir: process.env.E2E_DIST_DIR, overrides: { max_upload_size: "2M" } });
    browser = await launchChromium();
    users.dave = await newPage();
    users.erin = await newPage();
    await register(users.dave, "dave");
    await register(users.erin, "erin");
  });

  after(async () => {
    await browser?.close();
    await hs?.stop({ keep: process.env.KEEP_E2E_SERVER === "1" });
  });

  test("dave and erin share an encrypted DM", async () => {
    const page = users.dave;
    await page.getByRole("button", { name: "New chat" }).click();
    const dialog = page.getByRole("dialog", { name: "New chat" });
    await page.getByLabel("Search people").fill("@erin:localhost");
    await dialog.getByRole("button", { name: /@erin:localhost/ }).click();
    const composer = page.getByRole("textbox", { name: "Message" });
    await composer.fill("Hello Erin");
    await composer.press("Enter");
    await page.locator('[data-send-state="sent"]', { hasText: "Hello Erin" }).waitFor({ timeout: 30_000 });
    const requests = users.erin.getByRole("region", { name: "Requests" });
    await requests.getByRole("button", { name: "Accept" }).click({ timeout: 30_000 });
    await timeline(users.erin).getByText("Hello Erin").waitFor({ timeout: 30_000 });
  });

  test("an encrypted image is uploaded as ciphertext and shown decrypted to the other person", async () => {
    const png = makePng(120, 80);
    const uploaded = users.dave.waitForResponse((r) => r.url().includes("/upload") && r.request().method() === "POST");
    await users.dave.getByTestId("attach-input").setInputFiles({ name: "gradient.png", mimeType: "image/png", buffer: png });
    const { content_uri: mxc } = await (await uploaded).json();
    await timeline(users.dave).locator('img[data-attachment="image"]').waitFor({ timeout: 30_000 });
    // What the server stored (fetched with authentication) is ciphertext of the same length.
    const { accessToken } = JSON.parse(await users.dave.evaluate(() => localStorage.getItem("hs.session")));
    const stored = await fetch(`${hs.baseUrl}/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, {
      headers: { Authorization: `Bearer ${accessToken}` },
    });
    assert.equal(stored.status, 200);
    const storedBytes = Buffer.from(await stored.arrayBuffer());
    assert.equal(storedBytes.length, png.length, "AES-CTR keeps the size");
    assert.notEqual(sha256(storedBytes), sha256(png), "the server must hold ciphertext in an encrypted room");
    assert.notEqual(storedBytes.subarray(1, 4).toString("latin1"), "PNG");

    const img = timeline(users.erin).locator('img[data-attachment="image"]');
    await img.waitFor({ timeout: 30_000 });
    const shown = await img.evaluate(async (el) => {
      await el.decode();
      const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      // One pixel, drawn through a canvas: the decoded image is the gradient, not noise.
      const canvas = document.createElement("canvas");
      canvas.width = el.naturalWidth;
      canvas.height = el.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(el, 0, 0);
      const pixel = [...ctx.getImageData(60, 40, 1, 1).data];
      return { hash: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""), w: el.naturalWidth, h: el.naturalHeight, pixel };
    });
    assert.equal(shown.hash, sha256(png), "erin sees exactly the bytes dave sent");
    assert.deepEqual([shown.w, shown.h], [120, 80]);
    assert.deepEqual(shown.pixel.slice(0, 3), [Math.floor((60 * 255) / 120), Math.floor((40 * 255) / 80), 128]);

    await timeline(users.erin).getByRole("button", { name: "Open image gradient.png" }).click();
    const lightbox = users.erin.getByRole("dialog", { name: "gradient.png" });
    await lightbox.getByRole("img", { name: "gradient.png" }).waitFor();
    await shot(users.erin, "image-lightbox");
    await users.erin.keyboard.press("Escape");
    await lightbox.waitFor({ state: "detached" });
  });

  test("a file card downloads identical bytes (decrypted)", async () => {
    const data = randomBytes(150_000);
    await users.dave.getByTestId("attach-input").setInputFiles({ name: "notes.bin", mimeType: "application/octet-stream", buffer: data });
    const card = timeline(users.erin).locator('[data-attachment="file"]', { hasText: "notes.bin" });
    await card.waitFor({ timeout: 30_000 });
    assert.match(await card.textContent(), /146 KB · Encrypted/);
    const [download] = await Promise.all([
      users.erin.waitForEvent("download"),
      card.getByRole("button", { name: "Download notes.bin" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "notes.bin");
    const saved = readFileSync(await download.path());
    assert.equal(sha256(saved), sha256(data));
  });

  test("a file over the server's limit is refused before uploading, with a clear message", async () => {
    const uploads = [];
    const listener = (r) => r.url().includes("/upload") && r.method() === "POST" && uploads.push(r.url());
    users.dave.on("request", listener);
    await users.dave.getByTestId("attach-input").setInputFiles({
      name: "huge.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.alloc(UPLOAD_LIMIT + 1024),
    });
    const alert = users.dave.getByRole("alert").filter({ hasText: "huge.bin" });
    await alert.waitFor();
    assert.match(await alert.textContent(), /accepts files up to 2 MB\. Send a smaller file\./);
    users.dave.off("request", listener);
    assert.deepEqual(uploads, []);
    await alert.getByRole("button", { name: "Dismiss" }).click();
  });

  test("a display name change shows up for the other person", async () => {
    const page = users.dave;
    await openMenu(page, "Profile and settings");
    const settings = page.getByRole("dialog", { name: "Settings" });
    const name = settings.getByLabel("Display name");
    await name.waitFor();
    await name.fill("Dave Davidson");
    await settings.getByRole("button", { name: "Save" }).click();
    await settings.getByText("Display name saved.").waitFor();
    await shot(page, "settings-profile");
    await settings.getByRole("tab", { name: "Sessions" }).click();
    await settings.getByText("This session").waitFor();
    await shot(page, "settings-sessions");
    await page.keyboard.press("Escape");
    await users.erin.getByRole("heading", { name: "Dave Davidson" }).waitFor({ timeout: 30_000 });
  });

  test("the member list shows the other person with presence", async () => {
    const page = users.erin;
    await page.getByRole("button", { name: "Members" }).click();
    const dialog = page.getByRole("dialog", { name: "Members" });
    const dave = dialog.locator('[data-member-id="@dave:localhost"]');
    await dave.waitFor();
    assert.match(await dave.textContent(), /Dave Davidson/);
    assert.ok(["online", "unavailable", "offline"].includes(await dave.getAttribute("data-presence")));
    await dialog.locator('[data-member-id="@erin:localhost"]').waitFor();
    await shot(page, "member-list");
    await page.keyboard.press("Escape");
  });

  test("search in an encrypted conversation says it searched on this device", async () => {
    const page = users.erin;
    await page.getByRole("button", { name: "Search messages" }).click();
    const dialog = page.getByRole("dialog", { name: "Search messages" });
    await dialog.getByLabel("Search for").fill("hello");
    await dialog.getByRole("list", { name: "Search results" }).getByText("Erin").waitFor({ timeout: 15_000 });
    assert.match(await dialog.getByTestId("search-scope-note").textContent(), /on this device only/);
    await shot(page, "search");
    await page.keyboard.press("Escape");
  });

  test("blocking hides their messages; unblocking is in settings", async () => {
    const page = users.erin;
    await page.getByRole("button", { name: "Members" }).click();
    const dialog = page.getByRole("dialog", { name: "Members" });
    await dialog.getByRole("button", { name: "Block Dave Davidson" }).click();
    await dialog.getByRole("group").getByRole("button", { name: "Block" }).click();
    await dialog.locator('[data-member-id="@dave:localhost"]', { hasText: "blocked" }).waitFor({ timeout: 15_000 });
    await page.keyboard.press("Escape");
    await timeline(page).getByText("Hello Erin").waitFor({ state: "detached", timeout: 15_000 });
    assert.equal(await timeline(page).locator('[data-attachment="file"]').count(), 0);

    const composer = users.dave.getByRole("textbox", { name: "Message" });
    await composer.fill("Erin should not see this");
    await composer.press("Enter");
    await users.dave.locator('[data-send-state="sent"]', { hasText: "Erin should not see this" }).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(2000);
    assert.equal(await timeline(page).getByText("Erin should not see this").count(), 0);

    await openMenu(page, "Profile and settings");
    const settings = page.getByRole("dialog", { name: "Settings" });
    await settings.getByRole("tab", { name: "Blocked" }).click();
    const blocked = settings.getByRole("list", { name: "Blocked people" });
    await blocked.getByText("@dave:localhost").waitFor();
    await shot(page, "settings-blocked");
    await blocked.getByRole("button", { name: "Unblock" }).click();
    await settings.getByText("You have not blocked anyone").waitFor({ timeout: 15_000 });
    await page.keyboard.press("Escape");
    await timeline(page).getByText("Hello Erin").waitFor({ timeout: 15_000 });
  });

  test("phone screenshots: settings, member list, image lightbox", async () => {
    const page = users.erin;
    await page.setViewportSize(PHONE);
    // On a phone the conversation covers the list (and its menu): go back first.
    const back = page.getByRole("button", { name: "Back to conversations" });
    if (await back.isVisible()) await back.click();
    await openMenu(page, "Profile and settings");
    await page.getByRole("dialog", { name: "Settings" }).getByLabel("Display name").waitFor();
    await shot(page, "settings-profile");
    await page.keyboard.press("Escape");
    await page.locator("nav[aria-label=Conversations] button", { hasText: "Dave Davidson" }).first().click();
    await page.getByRole("button", { name: "Members" }).click();
    await page.getByRole("dialog", { name: "Members" }).locator('[data-member-id="@dave:localhost"]').waitFor();
    await shot(page, "member-list");
    await page.keyboard.press("Escape");
    await timeline(page).getByRole("button", { name: "Open image gradient.png" }).click();
    await page.getByRole("dialog", { name: "gradient.png" }).getByRole("img", { name: "gradient.png" }).waitFor();
    await shot(page, "image-lightbox");
    await page.keyboard.press("Escape");
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `no horizontal scrolling on a phone (page is ${width}px wide)`);
  });
  test("an avatar upload shows for the other person (authenticated thumbnail)", async () => {
    const page = users.dave;
    await openMenu(page, "Profile and settings");
    const settings = page.getByRole("dialog", { name: "Settings" });
    await settings.getByLabel("Avatar image").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: makePng(64, 64) });
    await settings.getByText("Avatar updated.").waitFor({ timeout: 30_000 });
    await page.keyboard.press("Escape");
    await users.erin.locator('[data-avatar-id="@dave:localhost"] img:visible').first().waitFor({ timeout: 30_000 });
  });

  test("unencrypted conversations are searched by the server", async () => {
    const page = users.dave;
    const { accessToken } = JSON.parse(await page.evaluate(() => localStorage.getItem("hs.session")));
    const api = async (method, path, body) => {
      const r = await fetch(`${hs.baseUrl}/_matrix/client/v3${path}`, {
        method,
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${accessToken}` },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, 200, await r.clone().text());
      return r.json();
    };
    const { room_id } = await api("POST", "/createRoom", { name: "Plain room", preset: "private_chat" });
    await api("PUT", `/rooms/${encodeURIComponent(room_id)}/send/m.room.message/b1`, { msgtype: "m.text", body: "unencrypted banana bread" });
    await page.locator("nav[aria-label=Conversations] button", { hasText: "Plain room" }).waitFor({ timeout: 30_000 });
    await openMenu(page, "Search all messages");
    const dialog = page.getByRole("dialog", { name: "Search messages" });
    await dialog.getByLabel("Search for").fill("banana");
    const hit = dialog.getByRole("list", { name: "Search results" }).getByRole("button", { name: /unencrypted banana bread/ });
    await hit.waitFor({ timeout: 15_000 });
    assert.doesNotMatch(await hit.textContent(), /on this device/);
    assert.match(await hit.textContent(), /in Plain room/);
    await hit.click();
    await page.getByRole("heading", { name: "Plain room" }).waitFor();
  });

  test("conversation details: rename, set the topic, invite, leave", async () => {
    const page = users.dave;
    await page.getByRole("button", { name: "Conversation details" }).click();
    const dialog = page.getByRole("dialog", { name: "Conversation details" });
    await dialog.getByLabel("Name").fill("Renamed room");
    await dialog.getByLabel("Topic").fill("Bread recipes");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.getByText("Saved.").waitFor();
    await dialog.getByLabel("Invite someone").fill("erin");
    await dialog.getByRole("button", { name: "Invite" }).click();
    await dialog.getByText("Invited @erin:localhost.").waitFor();
    await shot(page, "room-settings");
    await page.keyboard.press("Escape");
    await page.getByRole("heading", { name: "Renamed room" }).waitFor();
    // Erin is on a phone with a conversation open: back to the list, where the invitation shows.
    await users.erin.getByRole("button", { name: "Back to conversations" }).click();
    await users.erin.getByRole("region", { name: "Requests" }).getByText("Renamed room").waitFor({ timeout: 30_000 });
    await users.erin.locator("nav[aria-label=Conversations] button", { hasText: "Dave Davidson" }).first().click();
    await page.getByRole("button", { name: "Conversation details" }).click();
    await dialog.getByRole("button", { name: "Leave conversation" }).click();
    await dialog.getByRole("button", { name: "Leave", exact: true }).click();
    await page.locator("nav[aria-label=Conversations] button", { hasText: "Renamed room" }).waitFor({ state: "detached", timeout: 30_000 });
  });

  test("a new session is verified by comparing emojis with the first one", async () => {
    const second = await newPage();
    await second.goto("/");
    await second.getByLabel("User name").fill("dave");
    await second.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await second.getByRole("button", { name: "Log in" }).click();
    await second.waitForFunction(
      () => document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus === "needs-recovery-key",
      undefined,
      { timeout: 60_000 },
    );
    await openMenu(second, "Profile and settings");
    const settings = second.getByRole("dialog", { name: "Settings" });
    await settings.getByRole("tab", { name: "Sessions" }).click();
    await settings.getByRole("button", { name: "Verify with another session" }).click();
    const incoming = users.dave.getByRole("dialog", { name: "Verify this session?" });
    await incoming.getByRole("button", { name: "Accept" }).click({ timeout: 30_000 });
    const emojisOf = async (page) => {
      const list = page.getByRole("list", { name: "Emojis to compare" });
      await list.waitFor({ timeout: 30_000 });
      return list.textContent();
    };
    const [mine, theirs] = await Promise.all([emojisOf(second), emojisOf(users.dave)]);
    assert.equal(mine, theirs);
    await shot(second, "verification-emoji");
    await Promise.all([
      second.getByRole("button", { name: "They match" }).click(),
      users.dave.getByRole("button", { name: "They match" }).click(),
    ]);
    await second.getByText("Verified. Your sessions trust each other now.").waitFor({ timeout: 30_000 });
    await users.dave.getByText("Verified. Your sessions trust each other now.").waitFor({ timeout: 30_000 });
    await users.dave.getByRole("button", { name: "Done" }).click();
    // The new session got the secrets from the first one: no recovery key needed any more.
    await second.waitForFunction(
      () => document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus === "ready",
      undefined,
      { timeout: 30_000 },
    );
    await second.context().close();
  });

  test("desktop notifications: asked for in settings, shown for new messages while the tab is hidden", async () => {
    const page = users.erin;
    // Headless Chromium has no notification UI: record what the app asks the Notification API to show.
    await page.evaluate(() => {
      window.__notifications = [];
      window.Notification = class {
        static permission = "default";
        static async requestPermission() {
          window.Notification.permission = "granted";
          return "granted";
        }
        constructor(title, options) {
          window.__notifications.push({ title, body: options?.body });
        }
        close() {}
      };
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    });
    await page.getByRole("button", { name: "Back to conversations" }).click();
    await openMenu(page, "Profile and settings");
    const settings = page.getByRole("dialog", { name: "Settings" });
    await settings.getByRole("tab", { name: "Alerts" }).click();
    const toggle = settings.getByRole("checkbox", { name: /Desktop notifications/ });
    await toggle.check();
    assert.equal(await toggle.isChecked(), true);
    await page.keyboard.press("Escape");
    await page.locator("nav[aria-label=Conversations] button", { hasText: "Dave Davidson" }).first().click();
    const composer = users.dave.getByRole("textbox", { name: "Message" });
    await users.dave.locator("nav[aria-label=Conversations] button", { hasText: "erin" }).first().click();
    await composer.fill("Ping for the notification");
    await composer.press("Enter");
    await page.waitForFunction(() => window.__notifications.some((n) => n.body === "Ping for the notification"), undefined, { timeout: 30_000 });
    const [note] = await page.evaluate(() => window.__notifications);
    assert.match(note.title, /Dave Davidson/);
    await page.evaluate(() => Object.defineProperty(document, "hidden", { configurable: true, get: () => false }));
  });

  test("a lost connection shows a banner and recovers by itself", async () => {
    const page = users.dave;
    const fail = (route) => route.abort("connectionrefused");
    await page.route("**/_matrix/client/v3/sync**", fail);
    await page.route("**/_matrix/client/versions", fail);
    // Wake the current long poll so the next one fails.
    const composer = users.erin.getByRole("textbox", { name: "Message" });
    await composer.fill("wake up");
    await composer.press("Enter");
    const banner = page.getByTestId("connection-banner");
    await banner.waitFor({ timeout: 60_000 });
    await shot(page, "connection-lost");
    await page.unroute("**/_matrix/client/v3/sync**", fail);
    await page.unroute("**/_matrix/client/versions", fail);
    await banner.getByRole("button", { name: "Retry now" }).click().catch(() => {});
    await banner.waitFor({ state: "detached", timeout: 60_000 });
  });

  test("the recovery key can be replaced from settings", async () => {
    const page = users.dave;
    await openMenu(page, "Profile and settings");
    const settings = page.getByRole("dialog", { name: "Settings" });
    await settings.getByRole("tab", { name: "Security" }).click();
    await settings.getByRole("button", { name: "Reset recovery key" }).click();
    await settings.getByRole("button", { name: "Yes, make a new key" }).click();
    const key = settings.getByTestId("new-recovery-key");
    await key.waitFor({ timeout: 60_000 });
    assert.match((await key.textContent()).trim(), /^E[sS][a-zA-Z0-9 ]{40,}$/);
    await shot(page, "settings-security");
    await settings.getByRole("button", { name: "I saved it" }).click();
    await page.keyboard.press("Escape");
  });

  test("an ended session shows a dialog that leads to the login page", async () => {
    const page = users.dave;
    const { accessToken } = JSON.parse(await page.evaluate(() => localStorage.getItem("hs.session")));
    const r = await fetch(`${hs.baseUrl}/_matrix/client/v3/logout`, { method: "POST", headers: { Authorization: `Bearer ${accessToken}` } });
    assert.equal(r.status, 200);
    // Any request with the dead token gets 401 M_UNKNOWN_TOKEN; the next sync is one.
    const composer = users.erin.getByRole("textbox", { name: "Message" });
    await composer.fill("are you still there?");
    await composer.press("Enter");
    const dialog = page.getByRole("dialog", { name: "You were signed out" });
    await dialog.waitFor({ timeout: 60_000 });
    await shot(page, "session-expired");
    await dialog.getByRole("button", { name: "Log in again" }).click();
    await page.getByLabel("User name").waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate(() => localStorage.getItem("hs.session")), null);
  });
});
