// What the browser end-to-end tests share: the server and browser they run against, pages, screenshots,
// and the steps every test takes (register, log in, settle encryption, open and use a conversation).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { CLIENT_DIR, launchChromium, startHomeserver, startTurnServer } from "./homeserver.mjs";

export const RESULTS_DIR = join(CLIENT_DIR, "test-results");
export const SCREENSHOTS_DIR = join(RESULTS_DIR, "screenshots");
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const PASSWORD = "correct horse battery staple";
/** The crypto statuses in which encryption setup has finished (or failed for good). */
export const SETTLED_CRYPTO = ["ready", "needs-setup", "needs-recovery-key", "needs-recovery-setup", "needs-verification", "unavailable"];
/** For waits on the other person's client (sync, decryption). */
export const SLOW = { timeout: 30_000 };
/** A recovery key as the client shows it. */
export const RECOVERY_KEY_PATTERN = /^E[sS][a-zA-Z0-9 ]{40,}$/;

const KEEP_SERVER = process.env.KEEP_E2E_SERVER === "1";

/**
 * Starts the real homeserver (with `overrides` to its config) and headless Chromium. E2E_DIST_DIR: a build
 * of your own, when others rebuild dist/ at the same time; KEEP_E2E_SERVER=1 keeps the server's files.
 * `calls`: also a real coturn on loopback whose `use-auth-secret` matches the server's
 * `turn_shared_secret`, and Chromium with fake camera, microphone and screen.
 */
export async function startEnvironment({ overrides, calls = false } = {}) {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const turn = calls ? await startTurnServer() : null;
  let hs;
  try {
    hs = await startHomeserver({ distDir: process.env.E2E_DIST_DIR, overrides: { ...turn?.homeserverConfig, ...overrides } });
  } catch (e) {
    await turn?.stop();
    throw e;
  }
  let browser;
  try {
    browser = await launchChromium({ fakeMedia: calls });
  } catch (e) {
    await hs.stop();
    await turn?.stop();
    throw e;
  }
  const env = {
    hs,
    turn,
    browser,
    baseUrl: hs.baseUrl,

    /** A page on this server in a fresh browser context (see newPageAt). */
    async newPage(viewport = DESKTOP) {
      return newPageAt(browser, hs.baseUrl, { viewport, permissions: calls ? ["camera", "microphone", "notifications"] : undefined });
    },

    /**
     * A client-server API call. A Uint8Array body is sent as is with `contentType`, anything else as JSON.
     * `prefix` chooses the API (client v3 by default, v1, or media).
     */
    async api(method, path, body, token, { prefix = "/_matrix/client/v3", contentType = "application/octet-stream" } = {}) {
      const raw = body instanceof Uint8Array;
      const r = await fetch(`${hs.baseUrl}${prefix}${path}`, {
        method,
        headers: { "Content-Type": raw ? contentType : "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      });
      return { status: r.status, json: await r.json() };
    },

    /** Registers `username` through the API (no browser; the dummy auth stage) and returns its access token. */
    async registerByApi(username) {
      let reg = await env.api("POST", "/register", { username, password: PASSWORD });
      reg = await env.api("POST", "/register", { username, password: PASSWORD, auth: { type: "m.login.dummy", session: reg.json.session } });
      assert.equal(reg.status, 200, JSON.stringify(reg.json));
      return reg.json.access_token;
    },

    /** Waits until the server's key backup holds at least `count` room keys (the SDK uploads after a random delay). */
    async waitForKeyBackup(accessToken, count) {
      for (let i = 0; ; i++) {
        const { status, json } = await env.api("GET", "/room_keys/version", undefined, accessToken);
        if (status === 200 && json.count >= count) return json;
        assert.ok(i < 120, `the key backup holds ${json.count ?? 0} key(s) after 60 s, expected ${count}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    },

    /** Closes the browser and stops the server (keeping its log and data with KEEP_E2E_SERVER=1). */
    async stop() {
      await browser.close();
      if (KEEP_SERVER) console.log(`server log kept: ${hs.logPath}`);
      await hs.stop({ keep: KEEP_SERVER });
      if (turn && KEEP_SERVER) console.log(`turnserver log kept: ${turn.logPath}`);
      await turn?.stop({ keep: KEEP_SERVER });
    },
  };
  return env;
}

/**
 * A page in a fresh context of `browser` (empty storage) whose relative URLs go to `baseURL`, at `viewport`.
 * It records what went wrong: `errors` (uncaught exceptions), `consoleErrors` (those, console errors and
 * warnings, and the client's "recovery" log lines), and `chunks` (the script and style assets it requested).
 */
export async function newPageAt(browser, baseURL, { viewport = DESKTOP, permissions } = {}) {
  const context = await browser.newContext({ viewport, baseURL, acceptDownloads: true, ...(permissions ? { permissions } : {}) });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.errors = [];
  page.consoleErrors = [];
  page.chunks = [];
  page.on("pageerror", (e) => {
    page.errors.push(String(e));
    page.consoleErrors.push(String(e));
  });
  page.on("console", (m) => (m.type() === "error" || m.type() === "warning" || m.text().startsWith("recovery")) && page.consoleErrors.push(m.text()));
  page.on("request", (r) => r.url().includes("/assets/") && page.chunks.push(r.url()));
  return page;
}

/** Saves a screenshot of the page as `<name>-desktop.png` or `<name>-phone.png`, by its current width. */
export async function shot(page, name) {
  const size = page.viewportSize().width < 600 ? "phone" : "desktop";
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}-${size}.png`) });
}

/** Saves the screen (at desktop size) at desktop and at phone size; the page ends at desktop size. */
export async function shotDesktopAndPhone(page, name) {
  await shot(page, name);
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(100);
  await shot(page, name);
  await page.setViewportSize(DESKTOP);
}

/** Asserts the page (at phone size) is no wider than a phone's screen. */
export async function assertNoHorizontalScroll(page) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `no horizontal scrolling on a phone (page is ${width}px wide)`);
}

/** The session the client keeps in localStorage ({ userId, deviceId, accessToken, ... }), or null. */
export async function storedSession(page) {
  return JSON.parse(await page.evaluate(() => localStorage.getItem("hs.session")));
}

/** Opens the login page's "Create account" tab and fills in the name and (twice) the password. */
export async function fillRegistrationForm(page, name) {
  await page.goto("/");
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Confirm password").fill(PASSWORD);
}

/**
 * Registers `name` in the browser, waits for the room list, and settles encryption (saving the recovery
 * key, see settleCrypto). Returns { status, recoveryKey }.
 */
export async function register(page, name, { keyScreenshot } = {}) {
  await fillRegistrationForm(page, name);
  await page.getByRole("button", { name: "Create account" }).click();
  await waitForRoomList(page, { timeout: 60_000 });
  return settleCrypto(page, { keyScreenshot });
}

/** Logs `name` in from the login page (the room list and encryption are the caller's to wait for). */
export async function logIn(page, name) {
  await page.goto("/");
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
}

/** Waits until the room list (its "Chats" heading, even if a dialog hides it) is shown. */
export async function waitForRoomList(page, { timeout } = {}) {
  await page.getByRole("heading", { name: "Chats", includeHidden: true }).waitFor({ timeout });
}

/** Waits until encryption setup has finished (or failed for good) and returns the crypto status. */
export async function waitForCryptoSettled(page) {
  const root = page.locator("[data-crypto-status]");
  await root.waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    (settled) => settled.includes(document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus),
    SETTLED_CRYPTO,
    { timeout: 60_000 },
  );
  return root.getAttribute("data-crypto-status");
}

/** Waits until the crypto status is `status`. */
export async function waitForCryptoStatus(page, status, { timeout = 60_000 } = {}) {
  await page.waitForFunction((s) => document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus === s, status, { timeout });
}

/**
 * Waits until encryption setup has finished; if the recovery key is shown, takes it (with a screenshot
 * named `keyScreenshot`, if given), says it was saved and waits until the backup is made ("ready").
 * Returns { status, recoveryKey } (the key only when it was shown).
 */
export async function settleCrypto(page, { keyScreenshot } = {}) {
  const status = await waitForCryptoSettled(page);
  const key = page.getByTestId("recovery-key");
  if (status === "needs-recovery-setup" && (await key.isVisible())) {
    // The backup is made with the key only once the user says they saved it.
    const recoveryKey = (await key.textContent()).trim();
    if (keyScreenshot) await shot(page, keyScreenshot);
    await page.getByRole("button", { name: "I saved it" }).click();
    await waitForCryptoStatus(page, "ready");
    return { status: "ready", recoveryKey };
  }
  return { status, recoveryKey: null };
}

/** The app menu (the "Settings" button by the room list): opens it and chooses `item`. */
export async function openAppMenu(page, item) {
  await page.getByRole("button", { name: "Settings", exact: true }).click();
  await page.getByRole("menuitem", { name: item, exact: true }).click();
}

/** Opens the settings dialog at `tab` and returns the dialog. */
export async function openSettings(page, tab) {
  await openAppMenu(page, "Profile and settings");
  const settings = page.getByRole("dialog", { name: "Settings" });
  await settings.getByRole("tab", { name: tab }).click();
  return settings;
}

/** The room list's entries, or those whose text has `hasText`. */
export function roomListEntries(page, hasText) {
  return page.locator("nav[aria-label=Conversations] button", hasText === undefined ? undefined : { hasText });
}

/** Opens the first conversation in the room list whose entry has `hasText`. */
export async function openChat(page, hasText) {
  await roomListEntries(page, hasText).first().click();
}

/**
 * Starts a direct chat with `userId` from the "New chat" dialog, searching for `searchFor`. Without a
 * user directory match, the dialog says so and the full ID is used. `screenshot` names a screenshot
 * of the dialog before the person is chosen.
 */
export async function startDirectChat(page, userId, { searchFor = userId, screenshot } = {}) {
  await page.getByRole("button", { name: "New chat" }).click();
  const search = page.getByLabel("Search people");
  await search.fill(searchFor);
  const dialog = page.getByRole("dialog", { name: "New chat" });
  // (A directory lists only people who share a room with you or are in public rooms.)
  const found = dialog.getByRole("button", { name: userId });
  await found.or(dialog.getByText("No one found.")).waitFor();
  if (!(await found.isVisible())) await search.fill(userId);
  if (screenshot) await shot(page, screenshot);
  await found.click();
}

/** Accepts the pending invitation (the one to `roomName`, if given) in the room list's requests. */
export async function acceptInvitation(page, roomName) {
  const requests = page.getByRole("region", { name: "Requests" });
  if (roomName !== undefined) await requests.getByText(roomName).waitFor(SLOW);
  await requests.getByRole("button", { name: "Accept" }).click(SLOW);
}

/** The open conversation's timeline. */
export function messageLog(page) {
  return page.getByRole("log", { name: "Messages" });
}

/** A message in the timeline whose text is exactly `text`. */
export function messageBubble(page, text) {
  return messageLog(page).getByText(text, { exact: true });
}

/** The row of the message whose own text (not a quote of it) is `text`, in the timeline or in `where`. */
export function messageRow(page, text, where = messageLog(page)) {
  return where.locator("li[data-event-id]").filter({ has: page.locator(":scope > div > div", { hasText: text }) }).first();
}

/** The conversation's message composer. */
export function composer(page) {
  return page.getByRole("textbox", { name: "Message", exact: true });
}

/** Sends `text` from the composer and waits until it is sent (shown as `shownAs`, once formatted). */
export async function sendMessage(page, text, shownAs = text) {
  await composer(page).fill(text);
  await composer(page).press("Enter");
  await messageLog(page).locator('[data-send-state="sent"]', { hasText: shownAs }).first().waitFor(SLOW);
}

/** Waits until the highlighted (jumped-to) message is `text` and stays inside the scrolled timeline. */
export async function assertJumpedTo(page, text) {
  const target = messageLog(page).locator("li[data-highlighted]", { hasText: text });
  await target.waitFor(SLOW);
  await page.waitForTimeout(500); // later timeline updates must not pull the view away
  const [box, view] = [await target.boundingBox(), await messageLog(page).boundingBox()];
  assert.ok(box && box.y >= view.y && box.y + box.height <= view.y + view.height, `"${text}" is not on screen`);
}

/**
 * Alice and Bob register; Alice starts a direct chat with Bob and sends `firstMessage`; Bob accepts the
 * invitation and sees it. Returns their pages.
 */
export async function aliceAndBobInDirectChat(env, firstMessage) {
  const alice = await env.newPage();
  const bob = await env.newPage();
  await register(alice, "alice");
  await register(bob, "bob");
  await startDirectChat(alice, "@bob:localhost", { searchFor: "bob" });
  await sendMessage(alice, firstMessage);
  await acceptInvitation(bob);
  await messageRow(bob, firstMessage).waitFor(SLOW);
  return { alice, bob };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A real PNG (8-bit RGB) of `width` x `height` whose pixel at (x, y) is `colourAt(x, y)` ([r, g, b]). */
export function encodePng(width, height, colourAt) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height); // each row: filter type 0, then the pixels
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set(colourAt(x, y), row + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}
