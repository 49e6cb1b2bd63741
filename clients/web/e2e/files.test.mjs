// End to end: files and images (encrypted), profile, settings, the member list, blocking, search.
// The built client served by the REAL homeserver process, driven in headless Chromium.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  PHONE, RECOVERY_KEY_PATTERN, acceptInvitation, assertNoHorizontalScroll, encodePng, logIn, messageLog, openAppMenu, openChat,
  openSettings, register, roomListEntries, shot, startDirectChat, startEnvironment, storedSession, waitForCryptoStatus,
} from "./support.mjs";

const UPLOAD_LIMIT = 2 * 1024 * 1024;

let env;
let plainRoomId;
const users = {};

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

/** A real PNG (RGB gradient), so the browser decodes it and we can compare pixels and bytes. */
function makePng(width, height) {
  return encodePng(width, height, (x, y) => [(x * 255) / width, (y * 255) / height, 128]);
}

/** A WAV file: `seconds` of a 440 Hz tone, 8 kHz mono 16-bit PCM. */
function makeWav(seconds, rate = 8000) {
  const data = Buffer.alloc(seconds * rate * 2);
  for (let i = 0; i < seconds * rate; i++) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 8000), i * 2);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVEfmt ", 8, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** The content_uri of each upload a page makes (POST .../upload), in order, until stop(). */
function recordUploads(page) {
  const uris = [];
  const listener = (r) => {
    if (r.url().includes("/upload") && r.request().method() === "POST") uris.push(r.json().then((j) => j.content_uri));
  };
  page.on("response", listener);
  return {
    async stop() {
      page.off("response", listener);
      return Promise.all(uris);
    },
  };
}

/** What the server stores at an mxc URI (authenticated media, with the page's access token). */
async function stored(page, mxc) {
  const { accessToken } = await storedSession(page);
  const r = await fetch(`${env.baseUrl}/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, {
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  assert.equal(r.status, 200);
  return Buffer.from(await r.arrayBuffer());
}

/** The bytes behind an element's blob: URL (src), with its type, the SHA-256 and the decoded size. */
function blobOf(locator) {
  return locator.evaluate(async (el) => {
    if (el instanceof HTMLImageElement) await el.decode();
    const response = await fetch(el.src);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return {
      type: response.headers.get("content-type"),
      length: bytes.length,
      head: [...bytes.subarray(0, 4)],
      hash: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
      width: el.naturalWidth ?? el.videoWidth,
      height: el.naturalHeight ?? el.videoHeight,
    };
  });
}

const mediaId = (mxc) => mxc.split("/").pop();
const isJpeg = (head) => head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;

describe("files, profile, members, blocking and search", () => {
  before(async () => {
    env = await startEnvironment({ overrides: { max_upload_size: "2M" } });
    users.dave = await env.newPage();
    users.erin = await env.newPage();
    await register(users.dave, "dave");
    await register(users.erin, "erin");
  });

  after(async () => {
    await env?.stop();
  });

  test("dave and erin share an encrypted DM", async () => {
    const page = users.dave;
    await startDirectChat(page, "@erin:localhost");
    const composer = page.getByRole("textbox", { name: "Message" });
    await composer.fill("Hello Erin");
    await composer.press("Enter");
    await page.locator('[data-send-state="sent"]', { hasText: "Hello Erin" }).waitFor({ timeout: 30_000 });
    await acceptInvitation(users.erin);
    await messageLog(users.erin).getByText("Hello Erin").waitFor({ timeout: 30_000 });
  });

  test("an encrypted image is uploaded as ciphertext and shown decrypted to the other person", async () => {
    const png = makePng(120, 80);
    const uploaded = users.dave.waitForResponse((r) => r.url().includes("/upload") && r.request().method() === "POST");
    await users.dave.getByTestId("attach-input").setInputFiles({ name: "gradient.png", mimeType: "image/png", buffer: png });
    const { content_uri: mxc } = await (await uploaded).json();
    await messageLog(users.dave).locator('img[data-attachment="image"]').waitFor({ timeout: 30_000 });
    // What the server stored (fetched with authentication) is ciphertext of the same length.
    const storedBytes = await stored(users.dave, mxc);
    assert.equal(storedBytes.length, png.length, "AES-CTR keeps the size");
    assert.notEqual(sha256(storedBytes), sha256(png), "the server must hold ciphertext in an encrypted room");
    assert.notEqual(storedBytes.subarray(1, 4).toString("latin1"), "PNG");

    const img = messageLog(users.erin).locator('img[data-attachment="image"]');
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

    await messageLog(users.erin).getByRole("button", { name: "Open image gradient.png" }).click();
    const lightbox = users.erin.getByRole("dialog", { name: "gradient.png" });
    await lightbox.getByRole("img", { name: "gradient.png" }).waitFor();
    await shot(users.erin, "image-lightbox");
    await users.erin.keyboard.press("Escape");
    await lightbox.waitFor({ state: "detached" });
  });

  test("a file card downloads identical bytes (decrypted)", async () => {
    const data = randomBytes(150_000);
    await users.dave.getByTestId("attach-input").setInputFiles({ name: "notes.bin", mimeType: "application/octet-stream", buffer: data });
    const card = messageLog(users.erin).locator('[data-attachment="file"]', { hasText: "notes.bin" });
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

  test("a big image goes with an encrypted thumbnail: the timeline shows it, the lightbox the original", async () => {
    const png = makePng(1600, 1000);
    const erin = users.erin;
    // Hold erin's downloads: the box for the image must be there (from info.w/h) before any bytes are.
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    const downloads = [];
    const held = [];
    const hold = (route) => {
      downloads.push(route.request().url());
      const handled = gate.then(() => route.continue());
      held.push(handled);
      return handled;
    };
    await erin.route("**/_matrix/client/v1/media/download/**", hold);
    const uploads = recordUploads(users.dave);
    await users.dave.getByTestId("attach-input").setInputFiles({ name: "big.png", mimeType: "image/png", buffer: png });
    await messageLog(users.dave).locator('img[data-attachment="image"][alt="big.png"]').waitFor({ timeout: 30_000 });
    const [thumbMxc, imageMxc] = await uploads.stop();
    assert.ok(thumbMxc && imageMxc, "two uploads: the thumbnail, then the image");

    // Both are ciphertext on the server; the thumbnail is much smaller.
    const storedImage = await stored(users.dave, imageMxc);
    const storedThumb = await stored(users.dave, thumbMxc);
    assert.equal(storedImage.length, png.length);
    assert.notEqual(sha256(storedImage), sha256(png));
    assert.ok(storedThumb.length * 2 <= png.length, `thumbnail ${storedThumb.length} B for a ${png.length} B image`);
    assert.ok(!isJpeg([...storedThumb.subarray(0, 3)]), "the server holds the thumbnail encrypted");

    const placeholder = messageLog(erin).getByRole("button", { name: "Open image big.png" });
    await placeholder.waitFor({ timeout: 30_000 });
    await messageLog(erin).getByRole("status", { name: "Loading image big.png" }).waitFor();
    const box = await placeholder.boundingBox();
    assert.ok(Math.abs(box.width / box.height - 1.6) < 0.02, `the box has the image's shape (${box.width}x${box.height})`);
    release();
    await Promise.all(held);
    await erin.unroute("**/_matrix/client/v1/media/download/**", hold);

    const preview = messageLog(erin).locator('img[data-attachment="image"][alt="big.png"]');
    await preview.waitFor({ timeout: 30_000 });
    assert.equal(await preview.getAttribute("data-preview"), "thumbnail");
    const shownBox = await placeholder.boundingBox();
    assert.deepEqual([Math.round(shownBox.width), Math.round(shownBox.height)], [Math.round(box.width), Math.round(box.height)], "no layout jump");
    const thumb = await blobOf(preview);
    assert.deepEqual([thumb.width, thumb.height], [800, 500], "the thumbnail fits 800x600");
    assert.equal(thumb.type, "image/jpeg", "thumbnail_info.mimetype");
    assert.ok(isJpeg(thumb.head));
    assert.equal(thumb.length, storedThumb.length, "the decrypted thumbnail_file (AES-CTR keeps the size)");
    assert.ok(downloads.some((u) => u.includes(mediaId(thumbMxc))));
    assert.ok(!downloads.some((u) => u.includes(mediaId(imageMxc))), "the full image is not downloaded for the timeline");

    const requested = [];
    const onRequest = (r) => r.url().includes("/media/download/") && requested.push(r.url());
    erin.on("request", onRequest);
    await placeholder.click();
    const lightbox = erin.getByRole("dialog", { name: "big.png" });
    const full = lightbox.locator('img[data-attachment="image-full"]');
    await full.waitFor({ timeout: 30_000 });
    erin.off("request", onRequest);
    assert.ok(requested.some((u) => u.includes(mediaId(imageMxc))), "the lightbox downloads the original");
    const original = await blobOf(full);
    assert.equal(original.hash, sha256(png), "the lightbox shows exactly the bytes dave sent");
    assert.deepEqual([original.width, original.height], [1600, 1000]);
    const pixel = await full.evaluate((el) => {
      const canvas = document.createElement("canvas");
      canvas.width = el.naturalWidth;
      canvas.height = el.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(el, 0, 0);
      return [...ctx.getImageData(1200, 700, 1, 1).data].slice(0, 3);
    });
    assert.deepEqual(pixel, [Math.floor((1200 * 255) / 1600), Math.floor((700 * 255) / 1000), 128]);
    assert.match(await lightbox.getByTestId("image-details").textContent(), /big\.png · 1600 × 1000 · 134 KB/, "info.w/h and size");
    await erin.keyboard.press("Escape");
    await lightbox.waitFor({ state: "detached" });
  });

  test("a file dropped onto the conversation is sent", async () => {
    const page = users.dave;
    const data = randomBytes(6000);
    const transfer = await page.evaluateHandle((b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "dropped.bin", { type: "application/octet-stream" }));
      return dt;
    }, data.toString("base64"));
    const target = messageLog(page);
    await target.dispatchEvent("dragenter", { dataTransfer: transfer });
    await target.dispatchEvent("dragover", { dataTransfer: transfer });
    const overlay = page.getByText("Drop to send");
    await overlay.waitFor();
    await shot(page, "drop-files");
    await target.dispatchEvent("drop", { dataTransfer: transfer });
    await overlay.waitFor({ state: "detached" });
    const card = messageLog(users.erin).locator('[data-attachment="file"]', { hasText: "dropped.bin" });
    await card.waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([
      users.erin.waitForEvent("download"),
      card.getByRole("button", { name: "Download dropped.bin" }).click(),
    ]);
    assert.equal(sha256(readFileSync(await download.path())), sha256(data));
  });

  test("a pasted image is sent", async () => {
    const png = makePng(64, 48);
    const composer = users.dave.getByRole("textbox", { name: "Message" });
    const handled = await composer.evaluate((el, b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "image.png", { type: "image/png" }));
      const event = new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true });
      el.dispatchEvent(event);
      return event.defaultPrevented;
    }, png.toString("base64"));
    assert.equal(handled, true, "the app takes the pasted file (no text is pasted)");
    assert.equal(await composer.inputValue(), "");
    const img = messageLog(users.erin).locator('img[data-attachment="image"][alt="image.png"]');
    await img.waitFor({ timeout: 30_000 });
    assert.equal(await img.getAttribute("data-preview"), "original", "a small image has no thumbnail");
    const shown = await blobOf(img);
    assert.equal(shown.hash, sha256(png));
    assert.deepEqual([shown.width, shown.height], [64, 48]);
  });

  test("a video is sent as m.video with a poster frame and plays for the other person", async (t) => {
    // A short webm recorded in the browser (MediaRecorder over a canvas).
    const recorded = await users.dave.evaluate(async () => {
      if (typeof MediaRecorder === "undefined" || !HTMLCanvasElement.prototype.captureStream) return null;
      const mimeType = ["video/webm;codecs=vp8", "video/webm"].find((type) => MediaRecorder.isTypeSupported(type));
      if (!mimeType) return null;
      const canvas = document.createElement("canvas");
      canvas.width = 320;
      canvas.height = 240;
      const ctx = canvas.getContext("2d");
      const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType });
      const chunks = [];
      recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
      const stopped = new Promise((resolve) => (recorder.onstop = resolve));
      recorder.start();
      for (let frame = 0; frame < 30; frame++) {
        ctx.fillStyle = `rgb(${frame * 8}, 90, ${255 - frame * 8})`;
        ctx.fillRect(0, 0, 320, 240);
        ctx.fillStyle = "white";
        ctx.fillRect(frame * 9, 100, 40, 40);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      recorder.stop();
      await stopped;
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      let binary = "";
      for (const b of bytes) binary += String.fromCharCode(b);
      return btoa(binary);
    });
    if (!recorded) {
      t.skip("this Chromium cannot record a webm (no MediaRecorder / VP8)");
      return;
    }
    const webm = Buffer.from(recorded, "base64");
    const uploads = recordUploads(users.dave);
    await users.dave.getByTestId("attach-input").setInputFiles({ name: "clip.webm", mimeType: "video/webm", buffer: webm });
    const erinVideo = messageLog(users.erin).locator('[data-attachment="video"]', { hasText: "clip.webm" });
    await erinVideo.waitFor({ timeout: 30_000 });
    const [posterMxc, videoMxc] = await uploads.stop();
    assert.ok(posterMxc && videoMxc, "two uploads: the poster, then the video");
    assert.equal((await stored(users.dave, videoMxc)).length, webm.length);
    // Recordings say their length is Infinity until played to the end: the sender found it anyway.
    assert.match(await erinVideo.locator("figcaption").textContent(), /clip\.webm · 0:0\d · .+ · Encrypted/);
    const poster = erinVideo.locator('img[data-attachment="video-poster"]');
    await poster.waitFor({ timeout: 30_000 });
    const posterBlob = await blobOf(poster);
    assert.deepEqual([posterBlob.width, posterBlob.height], [320, 240]);
    assert.equal(posterBlob.type, "image/jpeg");
    const box = await erinVideo.boundingBox();
    assert.ok(box.width > 0);

    await erinVideo.getByRole("button", { name: "Play video clip.webm" }).click();
    const player = erinVideo.locator('video[data-attachment="video-player"]');
    await player.waitFor({ timeout: 30_000 });
    await player.evaluate(
      (el) =>
        new Promise((resolve, reject) => {
          const check = () => (el.currentTime > 0 || el.ended ? resolve() : el.error ? reject(new Error(`video error ${el.error.code}`)) : null);
          el.addEventListener("timeupdate", check);
          el.addEventListener("ended", check);
          el.addEventListener("error", check);
          check();
        }),
    );
    const played = await blobOf(player);
    assert.equal(played.hash, sha256(webm), "the decrypted clip is the one dave sent");
    assert.deepEqual(await player.evaluate((el) => [el.videoWidth, el.videoHeight]), [320, 240]);
  });

  test("an audio clip is sent as m.audio and plays inline", async () => {
    const wav = makeWav(1);
    await users.dave.getByTestId("attach-input").setInputFiles({ name: "tone.wav", mimeType: "audio/wav", buffer: wav });
    const card = messageLog(users.erin).locator('[data-attachment="audio"]', { hasText: "tone.wav" });
    await card.waitFor({ timeout: 30_000 });
    assert.match(await card.textContent(), /0:01 · 15.7 KB · Encrypted/);
    await card.getByRole("button", { name: "Play tone.wav" }).click();
    const player = card.getByLabel("Audio tone.wav");
    await player.waitFor({ timeout: 30_000 });
    await player.evaluate((el) => (el.readyState >= 1 ? null : new Promise((resolve) => el.addEventListener("loadedmetadata", resolve, { once: true }))));
    assert.ok(Math.abs((await player.evaluate((el) => el.duration)) - 1) < 0.01);
    assert.equal((await blobOf(player)).hash, sha256(wav));
    await messageLog(users.erin).evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await shot(users.erin, "files-timeline");
  });

  test("a display name change shows up for the other person", async () => {
    const page = users.dave;
    await openAppMenu(page, "Profile and settings");
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
    await page.getByRole("button", { name: "Members", exact: true }).click();
    const panel = page.getByRole("complementary", { name: "Members", exact: true });
    const dave = panel.locator('[data-member-id="@dave:localhost"]');
    await dave.waitFor();
    assert.match(await dave.textContent(), /Dave Davidson/);
    assert.ok(["online", "unavailable", "offline"].includes(await dave.getAttribute("data-presence")));
    await panel.locator('[data-member-id="@erin:localhost"]').waitFor();
    await shot(page, "member-list");
    await panel.getByRole("button", { name: "Close panel" }).click();
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
    await page.getByRole("button", { name: "Members", exact: true }).click();
    await page.getByRole("complementary", { name: "Members", exact: true }).locator('[data-member-id="@dave:localhost"]').getByRole("button").click();
    const profile = page.getByRole("complementary", { name: "Member details" });
    await profile.getByRole("button", { name: "Block", exact: true }).click();
    await profile.getByRole("group").getByRole("button", { name: "Block" }).click();
    await profile.getByText("You blocked Dave Davidson.").waitFor({ timeout: 15_000 });
    await profile.getByRole("button", { name: "Close panel" }).click();
    await messageLog(page).getByText("Hello Erin").waitFor({ state: "detached", timeout: 15_000 });
    assert.equal(await messageLog(page).locator('[data-attachment="file"]').count(), 0);

    const composer = users.dave.getByRole("textbox", { name: "Message" });
    await composer.fill("Erin should not see this");
    await composer.press("Enter");
    await users.dave.locator('[data-send-state="sent"]', { hasText: "Erin should not see this" }).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(2000);
    assert.equal(await messageLog(page).getByText("Erin should not see this").count(), 0);

    const settings = await openSettings(page, "Blocked");
    const blocked = settings.getByRole("list", { name: "Blocked people" });
    await blocked.getByText("@dave:localhost").waitFor();
    await shot(page, "settings-blocked");
    await blocked.getByRole("button", { name: "Unblock" }).click();
    await settings.getByText("You have not blocked anyone").waitFor({ timeout: 15_000 });
    await page.keyboard.press("Escape");
    await messageLog(page).getByText("Hello Erin").waitFor({ timeout: 15_000 });
  });

  test("phone screenshots: settings, member list, image lightbox", async () => {
    const page = users.erin;
    await page.setViewportSize(PHONE);
    // On a phone the conversation covers the list (and its menu): go back first.
    const back = page.getByRole("button", { name: "Back to conversations" });
    if (await back.isVisible()) await back.click();
    await openAppMenu(page, "Profile and settings");
    await page.getByRole("dialog", { name: "Settings" }).getByLabel("Display name").waitFor();
    await shot(page, "settings-profile");
    await page.keyboard.press("Escape");
    await openChat(page, "Dave Davidson");
    await page.getByRole("button", { name: "Members", exact: true }).click();
    const panel = page.getByRole("complementary", { name: "Members", exact: true });
    await panel.locator('[data-member-id="@dave:localhost"]').waitFor();
    await shot(page, "member-list");
    await panel.getByRole("button", { name: "Back to conversation", exact: true }).click();
    await messageLog(page).getByRole("button", { name: "Open image gradient.png" }).click();
    await page.getByRole("dialog", { name: "gradient.png" }).getByRole("img", { name: "gradient.png" }).waitFor();
    await shot(page, "image-lightbox");
    await page.keyboard.press("Escape");
    await assertNoHorizontalScroll(page);
  });
  test("phone screenshots: files in the timeline, dropping files", async () => {
    const page = users.erin;
    await page.setViewportSize(PHONE);
    if (!(await messageLog(page).isVisible())) {
      await page.keyboard.press("Escape");
      await openChat(page, "Dave Davidson");
    }
    const video = messageLog(page).locator('[data-attachment="video"]', { hasText: "clip.webm" });
    const last = (await video.count()) ? video : messageLog(page).locator('[data-attachment="audio"]', { hasText: "tone.wav" });
    await last.scrollIntoViewIfNeeded();
    await shot(page, "files-timeline");
    const transfer = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["x"], "x.txt", { type: "text/plain" }));
      return dt;
    });
    await messageLog(page).dispatchEvent("dragenter", { dataTransfer: transfer });
    await page.getByText("Drop to send").waitFor();
    await shot(page, "drop-files");
    await messageLog(page).dispatchEvent("dragleave", { dataTransfer: transfer });
    await page.getByText("Drop to send").waitFor({ state: "detached" });
    await assertNoHorizontalScroll(page);
  });

  test("an avatar upload shows for the other person (authenticated thumbnail)", async () => {
    const page = users.dave;
    await openAppMenu(page, "Profile and settings");
    const settings = page.getByRole("dialog", { name: "Settings" });
    await settings.getByLabel("Avatar image").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: makePng(64, 64) });
    await settings.getByText("Avatar updated.").waitFor({ timeout: 30_000 });
    await page.keyboard.press("Escape");
    await users.erin.locator('[data-avatar-id="@dave:localhost"] img:visible').first().waitFor({ timeout: 30_000 });
  });

  test("unencrypted conversations are searched by the server", async () => {
    const page = users.dave;
    const { accessToken } = await storedSession(page);
    const api = async (method, path, body) => {
      const r = await env.api(method, path, body, accessToken);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json;
    };
    const { room_id } = await api("POST", "/createRoom", { name: "Plain room", preset: "private_chat" });
    plainRoomId = room_id;
    await api("PUT", `/rooms/${encodeURIComponent(room_id)}/send/m.room.message/b1`, { msgtype: "m.text", body: "unencrypted banana bread" });
    await roomListEntries(page, "Plain room").waitFor({ timeout: 30_000 });
    await openAppMenu(page, "Search all messages");
    const dialog = page.getByRole("dialog", { name: "Search messages" });
    await dialog.getByLabel("Search for").fill("banana");
    const hit = dialog.getByRole("list", { name: "Search results" }).getByRole("button", { name: /unencrypted banana bread/ });
    await hit.waitFor({ timeout: 15_000 });
    assert.doesNotMatch(await hit.textContent(), /on this device/);
    assert.match(await hit.textContent(), /in Plain room/);
    await hit.click();
    await page.getByRole("heading", { name: "Plain room" }).waitFor();
  });

  test("unencrypted: images carry thumbnail_url; images without one use the server's thumbnail", async () => {
    const page = users.dave;
    const { accessToken } = await storedSession(page);
    const auth = { Authorization: `Bearer ${accessToken}` };
    const png = makePng(1600, 1000);

    // Sent by the app: the server stores the content as is, so the fields are checked there.
    await page.getByTestId("attach-input").setInputFiles({ name: "plain-big.png", mimeType: "image/png", buffer: png });
    const mine = messageLog(page).locator('img[data-attachment="image"][alt="plain-big.png"]');
    await mine.waitFor({ timeout: 30_000 });
    assert.equal(await mine.getAttribute("data-preview"), "thumbnail");
    const r = await fetch(`${env.baseUrl}/_matrix/client/v3/rooms/${encodeURIComponent(plainRoomId)}/messages?dir=b&limit=10`, { headers: auth });
    const event = (await r.json()).chunk.find((e) => e.content?.body === "plain-big.png");
    assert.ok(event, "the image event is in the room");
    const { content } = event;
    assert.equal(content.msgtype, "m.image");
    assert.match(content.url, /^mxc:\/\//);
    assert.equal(content.file, undefined);
    assert.equal(content.info.w, 1600);
    assert.equal(content.info.h, 1000);
    assert.equal(content.info.size, png.length);
    assert.equal(content.info.mimetype, "image/png");
    assert.match(content.info.thumbnail_url, /^mxc:\/\//);
    assert.equal(content.info.thumbnail_file, undefined);
    const thumb = await stored(page, content.info.thumbnail_url);
    assert.deepEqual(content.info.thumbnail_info, { w: 800, h: 500, mimetype: "image/jpeg", size: thumb.length });
    assert.ok(isJpeg([...thumb.subarray(0, 3)]));

    // From a client that sends no thumbnail: the timeline asks the server for one (authenticated media).
    const upload = await fetch(`${env.baseUrl}/_matrix/media/v3/upload?filename=bare.png`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "image/png" },
      body: png,
    });
    const { content_uri } = await upload.json();
    const sent = await fetch(`${env.baseUrl}/_matrix/client/v3/rooms/${encodeURIComponent(plainRoomId)}/send/m.room.message/bare1`, {
      method: "PUT",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ msgtype: "m.image", body: "bare.png", url: content_uri, info: { mimetype: "image/png", w: 1600, h: 1000, size: png.length } }),
    });
    assert.equal(sent.status, 200);
    const thumbnailRequests = [];
    const onRequest = (req) => req.url().includes("/_matrix/client/v1/media/thumbnail/") && thumbnailRequests.push(req.url());
    page.on("request", onRequest);
    const bare = messageLog(page).locator('img[data-attachment="image"][alt="bare.png"]');
    await bare.waitFor({ timeout: 30_000 });
    page.off("request", onRequest);
    assert.equal(await bare.getAttribute("data-preview"), "server-thumbnail");
    assert.ok(thumbnailRequests.some((u) => u.includes(mediaId(content_uri)) && /method=scale/.test(u)));
    const shown = await blobOf(bare);
    assert.deepEqual([shown.width, shown.height], [800, 500]);
    await messageLog(page).getByRole("button", { name: "Open image bare.png" }).click();
    const full = page.getByRole("dialog", { name: "bare.png" }).locator('img[data-attachment="image-full"]');
    await full.waitFor({ timeout: 30_000 });
    assert.equal((await blobOf(full)).hash, sha256(png));
    await page.keyboard.press("Escape");
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
    await openChat(users.erin, "Dave Davidson");
    await page.getByRole("button", { name: "Conversation details" }).click();
    await dialog.getByRole("button", { name: "Leave conversation" }).click();
    await dialog.getByRole("button", { name: "Leave", exact: true }).click();
    await roomListEntries(page, "Renamed room").waitFor({ state: "detached", timeout: 30_000 });
  });

  test("a new session is verified by comparing emojis with the first one", async () => {
    const second = await env.newPage();
    await logIn(second, "dave");
    await waitForCryptoStatus(second, "needs-recovery-key");
    const settings = await openSettings(second, "Sessions");
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
    await waitForCryptoStatus(second, "ready", { timeout: 30_000 });
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
    const settings = await openSettings(page, "Alerts");
    const toggle = settings.getByRole("checkbox", { name: /Desktop notifications/ });
    await toggle.check();
    assert.equal(await toggle.isChecked(), true);
    await page.keyboard.press("Escape");
    await openChat(page, "Dave Davidson");
    const composer = users.dave.getByRole("textbox", { name: "Message" });
    await openChat(users.dave, "erin");
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
    const settings = await openSettings(page, "Security");
    await settings.getByRole("button", { name: "Reset recovery key" }).click();
    await settings.getByRole("button", { name: "Yes, make a new key" }).click();
    const key = settings.getByTestId("new-recovery-key");
    await key.waitFor({ timeout: 60_000 });
    assert.match((await key.textContent()).trim(), RECOVERY_KEY_PATTERN);
    await shot(page, "settings-security");
    await settings.getByRole("button", { name: "I saved it" }).click();
    await page.keyboard.press("Escape");
  });

  test("an ended session shows a dialog that leads to the login page", async () => {
    const page = users.dave;
    const { accessToken } = await storedSession(page);
    const r = await fetch(`${env.baseUrl}/_matrix/client/v3/logout`, { method: "POST", headers: { Authorization: `Bearer ${accessToken}` } });
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
    assert.equal(await storedSession(page), null);
  });
});
