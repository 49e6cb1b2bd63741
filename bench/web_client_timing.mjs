// The browser half of bench/run_web_client_bench.py: times the built web client (clients/web/dist)
// in headless Chromium against ONE running homeserver (ours or Synapse) on 127.0.0.1.
//
//   node bench/web_client_timing.mjs CONFIG.json
//
// CONFIG: {homeserver, distDir, serverPgid, runs, rooms, messagesPerRoom, oldMessages,
//          extraOrigins: [{label, url}], workDir, out}
//
// The client is served by a small static server in this process (precompressed .gz twins, the same
// cache headers as our homeserver's web_client), so both homeservers get the same bytes from the same
// origin; the log-in form's "Homeserver URL" field points the client at the homeserver (cross-origin,
// CORS, for both). `extraOrigins` adds origins on which only the log-in page is timed (ours serving
// the client itself).
//
// Users: alice (the measured account: cross-signing, key backup, an encrypted DM with bob, `rooms`
// more rooms from carol), bob (matrix-js-sdk with Rust crypto in this process: the other side of the
// DM) and carol (plain HTTP: fills the rooms). Every measured log-in is a fresh browser context (empty
// cache and storage), so a new device; it is logged out afterwards.
//
// Times are taken INSIDE the page (performance.timeOrigin + performance.now(), epoch ms): a
// MutationObserver installed before the log-in click marks the moment each watched condition first
// holds in the DOM (the frame that paints it follows). Results go to CONFIG.out as JSON.
import { readFileSync, readdirSync, writeFileSync, existsSync, statSync, createReadStream } from "node:fs";
import { createServer } from "node:http";
import { join, extname, normalize, sep } from "node:path";
import { randomBytes } from "node:crypto";

import { Scenario, waitUntil } from "../tests/clients/js/lib/harness.js";
import { CryptoEvent } from "../tests/clients/js/node_modules/matrix-js-sdk/lib/crypto-api/index.js";
import { launchChromium } from "../clients/web/e2e/homeserver.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf-8"));
const HS = config.homeserver.replace(/\/+$/, "");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const QUIET_MS = 5000; // a long-task-free window this long ends "quiet" time to interactive
const FLOW_TIMEOUT_MS = 90_000;
// The client's settled encryption states (older builds know only the first four).
const SETTLED_CRYPTO = ["ready", "needs-setup", "needs-recovery-key", "unavailable", "needs-recovery-setup",
  "needs-verification"];

const t0 = Date.now();
function log(msg) {
  console.log(`[web ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// the static server for dist/ (what a Synapse deployment needs beside it)

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm", ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png",
};

function startStaticServer(root) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) file = join(root, "index.html");
    const hashed = file.startsWith(join(root, "assets") + sep);
    const headers = {
      "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
      "Cache-Control": hashed ? "public, max-age=31536000, immutable" : "no-cache, no-store, must-revalidate",
      Vary: "Accept-Encoding",
    };
    if (/\bgzip\b/.test(req.headers["accept-encoding"] ?? "") && existsSync(file + ".gz")) {
      headers["Content-Encoding"] = "gzip";
      file += ".gz";
    }
    headers["Content-Length"] = statSync(file).size;
    res.writeHead(200, headers);
    if (req.method === "HEAD") return res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ---------------------------------------------------------------------------------------------
// server CPU (utime + stime of every process in the server's process group, from /proc)

const TICKS = 100; // USER_HZ on Linux
function serverCpuMs() {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf-8");
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === config.serverPgid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / TICKS;
}

// ---------------------------------------------------------------------------------------------
// in the page

// Installed in every context before any page script: a big resource-timing buffer, and a record of
// long tasks (main-thread tasks of 50 ms or more) from the start of the page.
const INIT_SCRIPT = `
  performance.setResourceTimingBufferSize(10000);
  window.__longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch (e) {}
`;

/**
 * The bench agent, run in the page just before the log-in click. It marks (epoch ms) the first moment
 * each condition holds, re-checking on every DOM mutation, and acts as a quick user would:
 * opens `openRoom` as soon as it is listed, and with `recoveryKey` opens the recovery dialog as soon
 * as the banner offers it, types the key and presses Restore.
 */
function benchAgent(opts) {
  const now = () => performance.timeOrigin + performance.now();
  const marks = {};
  window.__bench = { marks };
  const mark = (name) => {
    if (!(name in marks)) marks[name] = now();
  };
  document.addEventListener("submit", () => mark("submit"), true);
  const button = (text) => [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === text);
  let filled = false;
  const check = () => {
    if (!marks.submit) return;
    if ([...document.querySelectorAll("h1")].some((h) => h.textContent.trim() === "Chats")) mark("chats");
    const nav = document.querySelector('nav[aria-label="Conversations"]');
    const entries = nav ? nav.querySelectorAll("button[data-room-id]").length : 0;
    if (entries >= 1) mark("first_room_listed");
    if (entries >= opts.expectedRooms) mark("rooms_listed");
    const status = document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus;
    if (status && opts.settled.includes(status)) {
      mark("crypto_settled");
      mark(`crypto_${status}`);
    }
    if (opts.openRoom && !marks.room_opened) {
      const entry = nav?.querySelector(`button[data-room-id="${CSS.escape(opts.openRoom)}"]`);
      if (entry) {
        mark("room_opened");
        entry.click();
      }
    }
    const timeline = document.querySelector('[role="log"][aria-label="Messages"]');
    for (const [name, text] of Object.entries(opts.texts)) {
      if (nav && nav.textContent.includes(text)) mark(`preview_${name}`);
      if (timeline && timeline.textContent.includes(text)) mark(`timeline_${name}`);
    }
    if (opts.recoveryKey) {
      const open = !marks.recovery_opened && button("Enter recovery key");
      if (open) {
        mark("recovery_opened");
        open.click();
      }
      const input = document.getElementById("recovery-key");
      if (input && !filled) {
        filled = true;
        Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, opts.recoveryKey);
        input.dispatchEvent(new Event("input", { bubbles: true }));
      }
      const restore = filled && !marks.restore_clicked && button("Restore");
      if (restore && !restore.disabled) {
        mark("restore_clicked");
        restore.click();
      }
      if (document.body.textContent.includes("This device is verified")) mark("recovery_done");
      const alert = document.querySelector('[role="dialog"] [role="alert"]');
      if (alert) window.__bench.error = alert.textContent;
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  check();
}

// ---------------------------------------------------------------------------------------------

let browser;
let staticUrl;
const state = {}; // users, rooms, recovery key: filled by setup()

async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(INIT_SCRIPT);
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && page.errors.push(m.text()));
  return page;
}

async function shot(page, name) {
  try {
    await page.screenshot({ path: join(config.workDir, `${name}.png`) });
  } catch {
    /* the page is gone */
  }
}

/** The log-in page, filled in (homeserver URL, user, password), with the session chunk prefetched. */
async function openFilledLoginPage(page, appUrl, user) {
  await page.goto(appUrl);
  await page.waitForFunction(() => performance.getEntriesByName("login-ready").length > 0);
  if (new URL(appUrl).origin !== new URL(HS).origin) {
    await page.locator("summary", { hasText: "Server" }).click();
    await page.locator("#server").fill(HS);
  }
  await page.getByLabel("User name").fill(user.localpart);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  // A user types for a few seconds: the app prefetches the session chunk meanwhile (idle callback).
  await page.waitForFunction(() =>
    performance.getEntriesByType("resource").some((e) => /\/assets\/session-[^/]*\.js$/.test(e.name) && e.responseEnd > 0));
  await page.waitForTimeout(1000);
}

async function api(method, path, token, body) {
  const r = await fetch(HS + path, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { raw: text.slice(0, 200) };
  }
  if (!r.ok) throw new Error(`${method} ${path} -> ${r.status} ${text.slice(0, 300)}`);
  return json;
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------------
// setup

async function setup() {
  const scenario = new Scenario("webbench", HS);
  state.scenario = scenario;
  const alice = await scenario.registerUser("alice");
  const bob = await scenario.registerUser("bob");
  const carol = await scenario.registerUser("carol");
  Object.assign(state, { alice, bob, carol });
  log(`registered ${alice.userId}, ${bob.userId}, ${carol.userId}`);

  // Alice's first device, in the browser: the client creates cross-signing keys, secret storage and a
  // key backup, and shows the recovery key once.
  const page = await newPage();
  await openFilledLoginPage(page, staticUrl, alice);
  await page.getByRole("button", { name: "Log in", exact: true }).click();
  await page.getByRole("heading", { name: "Chats", includeHidden: true }).waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    (settled) => settled.includes(document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus),
    SETTLED_CRYPTO, { timeout: 60_000 }).catch(async (e) => {
    await shot(page, "setup-crypto");
    throw new Error(`alice's first login: encryption setup did not finish (${e.message}); page errors: ${page.errors.join(" | ")}`);
  });
  const status = await page.locator("[data-crypto-status]").getAttribute("data-crypto-status");
  const keyBox = page.getByTestId("recovery-key");
  if (!["ready", "needs-recovery-setup"].includes(status) || !(await keyBox.isVisible())) {
    await shot(page, "setup-crypto");
    throw new Error(`alice's first login: encryption setup ended as ${status}, no recovery key shown`);
  }
  state.recoveryKey = (await keyBox.textContent()).trim();
  await page.getByRole("button", { name: "I saved it" }).click();
  // Newer builds make the key backup only once the key is confirmed.
  await page.waitForFunction(() => document.querySelector("[data-crypto-status]")?.dataset.cryptoStatus === "ready",
    undefined, { timeout: 60_000 });
  state.aliceToken = JSON.parse(await page.evaluate(() => localStorage.getItem("hs.session"))).accessToken;
  log("alice's first device set up cross-signing and a key backup");

  // Bob (matrix-js-sdk, Rust crypto) makes an encrypted DM with alice; she accepts in the browser.
  const bobClient = await scenario.login(bob);
  state.bobClient = bobClient;
  const dm = await scenario.createEncryptedRoom(bobClient, [{ getUserId: () => alice.userId }], { direct: true });
  state.dm = dm;
  const requests = page.getByRole("region", { name: "Requests" });
  await requests.getByRole("button", { name: "Accept" }).click({ timeout: 30_000 });
  await scenario.waitForJoined(bobClient, dm, [alice.userId]);
  state.oldNonce = randomBytes(4).toString("hex");
  for (let i = 1; i <= config.oldMessages; i++) await scenario.sendText(bobClient, dm, `Old message ${i} ${state.oldNonce}`);
  const lastOld = `Old message ${config.oldMessages} ${state.oldNonce}`;
  await page.getByRole("log", { name: "Messages" }).getByText(lastOld, { exact: true }).waitFor({ timeout: 60_000 });
  log(`DM ${dm}: ${config.oldMessages} messages from bob decrypted on alice's first device`);

  // The Rust crypto uploads room keys to the backup after a random delay of up to 10 s.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const backup = await api("GET", "/_matrix/client/v3/room_keys/version", state.aliceToken);
    if (backup.count >= 1) break;
    if (Date.now() > deadline) throw new Error("the key backup holds no session after 90 s");
    await new Promise((r) => setTimeout(r, 500));
  }
  log("bob's room key is in alice's key backup");

  // Carol fills `rooms` more rooms (unencrypted), alice joins them.
  const carolLogin = await api("POST", "/_matrix/client/v3/login", null, {
    type: "m.login.password", identifier: { type: "m.id.user", user: carol.localpart }, password: carol.password,
  });
  const ct = carolLogin.access_token;
  for (let r = 1; r <= config.rooms; r++) {
    const { room_id: roomId } = await api("POST", "/_matrix/client/v3/createRoom", ct, {
      name: `Room ${r}`, topic: `Bench room number ${r}`, preset: "private_chat", invite: [alice.userId],
    });
    await api("POST", `/_matrix/client/v3/join/${enc(roomId)}`, state.aliceToken, {});
    for (let m = 1; m <= config.messagesPerRoom; m++) {
      await api("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/r${r}m${m}`, ct, {
        msgtype: "m.text", body: `Message ${m} in room ${r}: the quick brown fox jumps over the lazy dog.`,
      });
    }
  }
  state.expectedRooms = config.rooms + 1;
  await page.waitForFunction((n) => document.querySelectorAll('nav[aria-label="Conversations"] button[data-room-id]').length >= n,
    state.expectedRooms, { timeout: 60_000 });
  log(`alice is in ${state.expectedRooms} rooms (${config.messagesPerRoom} messages in each of carol's)`);
  // The first device stays registered (its keys, its backup) but stops running.
  await page.context().close();
}

// ---------------------------------------------------------------------------------------------
// one measured log-in

/**
 * A fresh browser logs alice in. `opts` for the agent (texts, openRoom, recoveryKey); `done(marks)` says
 * when the run is complete; `during(page)` runs beside the log-in (bob's side). Returns the marks,
 * relative to the submit (ms), the server CPU from just before the click to the end, and a few request
 * timings from the page's resource timing.
 */
async function measuredLogin(name, { opts = {}, finalMarks, during } = {}) {
  const page = await newPage();
  try {
    await openFilledLoginPage(page, staticUrl, state.alice);
    await page.evaluate(benchAgent, {
      texts: {}, settled: SETTLED_CRYPTO, expectedRooms: state.expectedRooms, ...opts,
    });
    const cpu0 = serverCpuMs();
    await page.getByRole("button", { name: "Log in", exact: true }).click();
    const side = during ? during(page) : null;
    side?.catch(() => {}); // awaited below; a failure must not be an unhandled rejection meanwhile
    await page.waitForFunction(
      (names) => names.every((n) => window.__bench.marks[n]) || window.__bench.error,
      finalMarks, { timeout: FLOW_TIMEOUT_MS, polling: 20 });
    const cpu1 = serverCpuMs();
    const sideResult = side ? await side : {};
    const got = await page.evaluate(() => ({
      marks: window.__bench.marks,
      error: window.__bench.error,
      session: JSON.parse(localStorage.getItem("hs.session") || "null"),
      resources: performance.getEntriesByType("resource").map((e) => [e.name, e.startTime, e.responseEnd]),
      timeOrigin: performance.timeOrigin,
    }));
    if (got.error) throw new Error(`the page said: ${got.error}`);
    const submit = got.marks.submit;
    const rel = Object.fromEntries(Object.entries(got.marks).map(([k, v]) => [k, v - submit]));
    for (const [k, v] of Object.entries(sideResult)) if (typeof v === "number") rel[k] = v - submit;
    const sinceSubmit = (e) => e[1] + got.timeOrigin >= submit - 1;
    const reqs = got.resources.filter(sinceSubmit);
    const first = (re) => reqs.find((e) => re.test(e[0]));
    const dur = (e) => (e ? e[2] - e[1] : null);
    const login = first(/\/_matrix\/client\/v3\/login$/);
    const initialSync = first(/\/_matrix\/client\/v3\/sync\?(?!.*since=)/);
    const chunks = reqs.filter((e) => /\/assets\/(ChatScreen|rust-crypto|matrix_sdk_crypto_wasm)[^/]*$/.test(e[0]));
    // How long the page was waiting on at least one homeserver request between the click and the end
    // (the union of their intervals; long-polling syncs, which wait for news by design, left out).
    const end = Math.max(...finalMarks.map((n) => rel[n]));
    const spans = reqs.filter((e) => e[0].startsWith(HS) && !/[?&]since=/.test(e[0]))
      .map((e) => [e[1] + got.timeOrigin - submit, Math.min(end, e[2] + got.timeOrigin - submit)])
      .filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
    let waiting = 0;
    let reach = 0;
    for (const [a, b] of spans) {
      if (b > reach) waiting += b - Math.max(a, reach);
      reach = Math.max(reach, b);
    }
    const result = {
      ms: rel,
      homeserver_wait_ms: waiting,
      server_cpu_ms: cpu1 - cpu0,
      login_request_ms: dur(login),
      initial_sync_request_ms: dur(initialSync),
      chunks_loaded_ms: chunks.length ? Math.max(...chunks.map((e) => e[2] + got.timeOrigin - submit)) : null,
      requests: reqs.filter((e) => e[0].startsWith(HS)).length,
      device: got.session?.deviceId,
      side_device: sideResult.device,
      // Every request the page made after the click: [path, start, end] in ms from the click.
      waterfall: reqs.map((e) => [e[0].replace(/^https?:\/\/[^/]+/, ""), Math.round(e[1] + got.timeOrigin - submit),
        Math.round(e[2] + got.timeOrigin - submit)]),
      chunks_before_click: got.resources.filter((e) => !sinceSubmit(e) && /\/assets\//.test(e[0])).map((e) => e[0].replace(/^.*\/assets\//, "")),
    };
    if (page.errors.length) result.page_errors = page.errors.slice(0, 5);
    // Log the device out, so that alice's device list does not grow run after run.
    if (got.session) await api("POST", "/_matrix/client/v3/logout", got.session.accessToken, {});
    return result;
  } catch (e) {
    await shot(page, `fail-${name}`);
    throw e;
  } finally {
    await page.context().close();
  }
}

// ---------------------------------------------------------------------------------------------
// the figures

async function loginPageRun(appUrl, viewport) {
  const page = await newPage(viewport);
  try {
    await page.goto(appUrl);
    await page.waitForFunction(() => performance.getEntriesByName("login-ready").length > 0);
    const username = page.getByLabel("User name");
    if (!(await username.isEditable())) throw new Error("the user name field is not editable at login-ready");
    // Wait for a long-task-free window of QUIET_MS after login-ready (at most 20 s).
    const figures = await page.evaluate(async (quietMs) => {
      const ready = performance.getEntriesByName("login-ready")[0].startTime;
      const lastEnd = () => Math.max(0, ...window.__longTasks.map(([s, d]) => s + d));
      const limit = performance.now() + 20_000;
      while (performance.now() < limit) {
        const quietSince = Math.max(ready, lastEnd());
        if (performance.now() - quietSince >= quietMs) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const nav = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      const upToReady = performance.getEntriesByType("resource").filter((e) => e.responseEnd <= ready);
      return {
        ready,
        quiet_tti: Math.max(ready, lastEnd()),
        fcp: fcp ? fcp.startTime : null,
        dom_content_loaded: nav.domContentLoadedEventEnd,
        long_tasks: window.__longTasks.map(([s, d]) => [Math.round(s), Math.round(d)]),
        bytes_to_ready: nav.transferSize + upToReady.reduce((n, e) => n + e.transferSize, 0),
        requests_to_ready: 1 + upToReady.length,
      };
    }, QUIET_MS);
    // And the field responds: a key typed now shows up in it.
    await username.press("a");
    if ((await username.inputValue()) !== "a") throw new Error("typing into the user name field did nothing");
    return figures;
  } finally {
    await page.context().close();
  }
}

async function loginPage(results) {
  const origins = [{ label: "static", url: staticUrl }, ...(config.extraOrigins ?? [])];
  const kinds = origins.flatMap((origin) => [["desktop", DESKTOP], ["phone", PHONE]].map(([vname, viewport]) =>
    ({ key: `login_page_${origin.label}_${vname}`, url: origin.url, viewport })));
  for (const kind of kinds) results[kind.key] = [];
  // Round-robin over the kinds, so that a burst of other load on the machine hits them all alike.
  for (let i = 0; i < config.runs; i++) {
    for (const kind of kinds) results[kind.key].push(await loginPageRun(kind.url, kind.viewport));
  }
  for (const kind of kinds) {
    const runs = results[kind.key];
    log(`${kind.key}: ready ` + runs.map((r) => r.ready.toFixed(0)).join(", ")
      + " ms; quiet TTI " + runs.map((r) => r.quiet_tti.toFixed(0)).join(", ") + " ms");
  }
}

async function roomList(results) {
  const runs = [];
  for (let i = 0; i < config.runs; i++) {
    runs.push(await measuredLogin(`room-list-${i}`, { finalMarks: ["rooms_listed", "crypto_settled"] }));
    log(`log-in -> room list: chats ${runs.at(-1).ms.chats.toFixed(0)} ms, all ${state.expectedRooms} rooms `
      + `${runs.at(-1).ms.rooms_listed.toFixed(0)} ms, server CPU ${runs.at(-1).server_cpu_ms.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  results.room_list = runs;
}

/**
 * Bob's side of a run: returns a function that waits until his crypto lists a device of alice's that
 * it did not list before this call, then sends `text` (the SDK shares the room key with it first).
 */
async function bobSendsToNewDevice(text) {
  const bob = state.bobClient;
  const crypto = bob.getCrypto();
  const known = new Set((await crypto.getUserDeviceInfo([state.alice.userId])).get(state.alice.userId)?.keys() ?? []);
  return async () => {
      let newDevice;
      await waitUntil("bob to see alice's new device", async () => {
        const devices = (await crypto.getUserDeviceInfo([state.alice.userId])).get(state.alice.userId);
        newDevice = [...(devices?.keys() ?? [])].find((d) => !known.has(d));
        return Boolean(newDevice);
      }, [[bob, CryptoEvent.DevicesUpdated], [bob, CryptoEvent.WillUpdateDevices]], FLOW_TIMEOUT_MS, { pollMs: 50 });
      const deviceSeen = Date.now();
      await state.scenario.sendText(bob, state.dm, text);
      return { bob_saw_device: deviceSeen, bob_sent: Date.now(), device: newDevice };
  };
}

async function firstDecrypted(results) {
  const runs = [];
  for (let i = 0; i < config.runs; i++) {
    const text = `New message ${i} ${randomBytes(4).toString("hex")}`;
    const bobSide = await bobSendsToNewDevice(text);
    const run = await measuredLogin(`decrypt-${i}`, {
      opts: { texts: { new: text }, openRoom: state.dm },
      finalMarks: ["timeline_new"],
      during: bobSide,
    });
    if (run.side_device !== run.device) throw new Error(`bob saw device ${run.side_device}, the page logged in as ${run.device}`);
    runs.push(run);
    log(`log-in -> new message decrypted: ${run.ms.timeline_new.toFixed(0)} ms (bob saw the device at `
      + `${run.ms.bob_saw_device.toFixed(0)}, sent at ${run.ms.bob_sent.toFixed(0)}), server CPU ${run.server_cpu_ms.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  results.first_decrypted = runs;
}

async function recovery(results) {
  const runs = [];
  for (let i = 0; i < config.runs; i++) {
    const run = await measuredLogin(`recovery-${i}`, {
      opts: { texts: { old: state.oldNonce }, openRoom: state.dm, recoveryKey: state.recoveryKey },
      finalMarks: ["timeline_old", "recovery_done"],
    });
    runs.push(run);
    log(`log-in -> recovery key -> old message decrypted: ${run.ms.timeline_old.toFixed(0)} ms (Restore at `
      + `${run.ms.restore_clicked.toFixed(0)}), server CPU ${run.server_cpu_ms.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  results.recovery = runs;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const staticServer = await startStaticServer(normalize(config.distDir));
  staticUrl = `http://127.0.0.1:${staticServer.address().port}/`;
  log(`client ${config.distDir} served on ${staticUrl}; homeserver ${HS}`);
  browser = await launchChromium();
  const results = { chromium: browser.version(), static_url: staticUrl };
  const phases = config.phases ?? ["login_page", "room_list", "first_decrypted", "recovery"];
  let exitCode = 0;
  try {
    if (phases.includes("login_page")) await loginPage(results);
    if (phases.some((p) => p !== "login_page")) await setup();
    if (phases.includes("room_list")) await roomList(results);
    if (phases.includes("first_decrypted")) await firstDecrypted(results);
    if (phases.includes("recovery")) await recovery(results);
  } catch (e) {
    results.error = String(e && e.stack ? e.stack : e);
    log(`ERROR: ${results.error}`);
    exitCode = 1;
  } finally {
    writeFileSync(config.out, JSON.stringify(results, null, 1));
    state.scenario?.stopAll();
    await browser.close();
    staticServer.close();
  }
  // Stopped SDK clients can leave timers behind.
  process.exit(exitCode);
}

main();
