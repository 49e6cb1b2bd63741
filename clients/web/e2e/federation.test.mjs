// End to end across servers: the bundled client, unchanged, used by two people on two of our servers
// that federate over TLS on loopback (real processes, a throw-away CA; tests/clients/start_federating_servers.py).
// Alice uses server A's web client, Bob server B's; each browser talks only to its own server.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { launchChromium, startFederatingServers } from "./homeserver.mjs";
import {
  SLOW, acceptInvitation, encodePng, messageLog, messageRow, newPageAt, register, sendMessage, shot, startDirectChat,
  storedSession,
} from "./support.mjs";

const KEEP_SERVER = process.env.KEEP_E2E_SERVER === "1";
const sha256 = (data) => createHash("sha256").update(data).digest("hex");

let fed;
let browser;
const a = {};
const b = {};

/** A client-server API call to `server` with the page's access token. */
async function api(server, page, method, path) {
  const { accessToken } = await storedSession(page);
  const r = await fetch(`${server.baseUrl}/_matrix/client/v3${path}`, { method, headers: { Authorization: `Bearer ${accessToken}` } });
  return { status: r.status, json: await r.json() };
}

/** The bytes, size and one pixel of a shown image (drawn through a canvas, so it really decoded). */
function shownImage(locator, [x, y]) {
  return locator.evaluate(
    async (el, [px, py]) => {
      await el.decode();
      const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      const canvas = document.createElement("canvas");
      canvas.width = el.naturalWidth;
      canvas.height = el.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(el, 0, 0);
      return {
        hash: [...digest].map((v) => v.toString(16).padStart(2, "0")).join(""),
        size: [el.naturalWidth, el.naturalHeight],
        pixel: [...ctx.getImageData(px, py, 1, 1).data].slice(0, 3),
      };
    },
    [x, y],
  );
}

describe("web client with a user on another server (federation)", () => {
  before(async () => {
    const [servers, chromium] = await Promise.allSettled([
      startFederatingServers({ distDir: process.env.E2E_DIST_DIR, keep: KEEP_SERVER }),
      launchChromium(),
    ]);
    fed = servers.value;
    browser = chromium.value;
    if (servers.status === "rejected" || chromium.status === "rejected") throw servers.reason ?? chromium.reason;
    [a.server, b.server] = fed.servers;
    a.page = await newPageAt(browser, a.server.baseUrl);
    b.page = await newPageAt(browser, b.server.baseUrl);
  });

  after(async () => {
    await browser?.close();
    if (KEEP_SERVER) for (const s of fed?.servers ?? []) console.log(`server log kept: ${s.logPath}`);
    await fed?.stop();
  });

  test("alice (server A) and bob (server B) register, each on their own server's web client", async () => {
    const [ra, rb] = await Promise.all([register(a.page, "alice"), register(b.page, "bob")]);
    assert.equal(ra.status, "ready");
    assert.equal(rb.status, "ready");
    assert.equal((await storedSession(a.page)).userId, `@alice:${a.server.serverName}`);
    assert.equal((await storedSession(b.page)).userId, `@bob:${b.server.serverName}`);
  });

  test("alice starts an encrypted DM with bob across servers; both read each other decrypted", async () => {
    const bobId = `@bob:${b.server.serverName}`;
    // The typed full ID is looked up (a profile query over federation) and offered.
    await startDirectChat(a.page, bobId);
    await sendMessage(a.page, "Hello Bob, from server A");
    await acceptInvitation(b.page);
    // B's stream of the room starts at bob's join: the client pages back (B backfills from A) for it.
    await messageRow(b.page, "Hello Bob, from server A").waitFor(SLOW);
    await sendMessage(b.page, "Hi Alice, from server B");
    await messageRow(a.page, "Hi Alice, from server B").waitFor(SLOW);
    await shot(b.page, "federation-dm");

    // What the servers hold is ciphertext: in bob's server's copy of the room, the messages are encrypted.
    const rooms = await api(b.server, b.page, "GET", "/joined_rooms");
    assert.equal(rooms.status, 200);
    assert.equal(rooms.json.joined_rooms.length, 1, "bob is in the DM only");
    const dm = rooms.json.joined_rooms[0];
    const encryption = await api(b.server, b.page, "GET", `/rooms/${encodeURIComponent(dm)}/state/m.room.encryption/`);
    assert.equal(encryption.status, 200, "the DM is encrypted");
    assert.equal(encryption.json.algorithm, "m.megolm.v1.aes-sha2");
    const messages = await api(b.server, b.page, "GET", `/rooms/${encodeURIComponent(dm)}/messages?dir=b&limit=50`);
    assert.equal(messages.status, 200);
    const types = messages.json.chunk.filter((e) => !e.state_key && e.state_key !== "").map((e) => e.type);
    assert.ok(types.filter((t) => t === "m.room.encrypted").length >= 2, `two encrypted messages on B: ${types}`);
    assert.ok(!types.includes("m.room.message"), `no plaintext message on B: ${types}`);
    const senders = new Set(messages.json.chunk.filter((e) => e.type === "m.room.encrypted").map((e) => e.sender));
    assert.deepEqual([...senders].sort(), [`@alice:${a.server.serverName}`, bobId].sort());
  });

  test("an encrypted image alice sends from server A is shown to bob on server B, the same bytes", async () => {
    const png = encodePng(120, 80, (x, y) => [(x * 255) / 120, (y * 255) / 80, 64]);
    // Bob's client fetches mxc://A/... from server B, which fetches it from A over federation.
    const responses = [];
    const onResponse = (r) => r.url().includes("/download/") && responses.push([r.url(), r.status()]);
    b.page.on("response", onResponse);
    const uploaded = a.page.waitForResponse((r) => r.url().includes("/upload") && r.request().method() === "POST");
    await a.page.getByTestId("attach-input").setInputFiles({ name: "across.png", mimeType: "image/png", buffer: png });
    const { content_uri: mxc } = await (await uploaded).json();
    assert.ok(mxc.startsWith(`mxc://${a.server.serverName}/`), `uploaded to server A: ${mxc}`);

    const img = messageLog(b.page).locator('img[data-attachment="image"][alt="across.png"]');
    await img.waitFor(SLOW);
    const shown = await shownImage(img, [60, 40]);
    assert.equal(shown.hash, sha256(png), "bob sees exactly the bytes alice sent, decrypted");
    assert.deepEqual(shown.size, [120, 80]);
    assert.deepEqual(shown.pixel, [Math.floor((60 * 255) / 120), Math.floor((40 * 255) / 80), 64]);
    b.page.off("response", onResponse);
    const downloads = responses.filter(([url]) => url.includes(mxc.split("/").pop()));
    assert.ok(downloads.length > 0 && downloads.every(([url, status]) => url.startsWith(b.server.baseUrl) && status === 200),
      `downloaded through bob's own server: ${JSON.stringify(downloads)}`);

    await messageLog(b.page).getByRole("button", { name: "Open image across.png" }).click();
    const lightbox = b.page.getByRole("dialog", { name: "across.png" });
    await lightbox.getByRole("img", { name: "across.png" }).waitFor();
    await shot(b.page, "federation-image");
    await b.page.keyboard.press("Escape");
    assert.deepEqual(a.page.errors, [], "no uncaught exceptions on alice's page");
    assert.deepEqual(b.page.errors, [], "no uncaught exceptions on bob's page");
  });
});
