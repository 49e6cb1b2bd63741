// Calls end to end: the built client, the REAL homeserver process and a REAL coturn on loopback (its
// `use-auth-secret` matching the server's `turn_shared_secret`), two browser contexts in headless Chromium
// with fake camera, microphone and screen. The clients run with matrix-js-sdk's forceTURN (set by the
// test-only `hs.forceTURN` flag): iceTransportPolicy "relay", so media can only flow through coturn.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import {
  DESKTOP, PASSWORD, PHONE, assertNoHorizontalScroll, RESULTS_DIR, SLOW, acceptInvitation, aliceAndBobInDirectChat, messageLog, openChat, openSettings, register,
  sendMessage, shot, shotDesktopAndPhone, startDirectChat, startEnvironment, waitForCryptoSettled, waitForRoomList,
} from "./support.mjs";

let env;
let alice;
let bob;
const metrics = {};

/**
 * Test-only page setup: relay-only calls (unless the tab's sessionStorage says "direct"), and a record of
 * every RTCPeerConnection (for getStats).
 */
function forceTurnAndRecordPeerConnections() {
  if (sessionStorage.getItem("hs.test.direct") === "1") localStorage.removeItem("hs.forceTURN");
  else localStorage.setItem("hs.forceTURN", "1");
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) {
      super(config, ...rest);
      window.__pcs.push({ pc: this, config });
    }
  };
}

const consoleLogs = [];

async function callPage(viewport = DESKTOP, { clock = false } = {}) {
  const page = await env.newPage(viewport);
  const index = consoleLogs.length;
  consoleLogs.push([]);
  // CALLS_E2E_CONSOLE=1 keeps every page's console (the SDK's call logs) in test-results/.
  if (process.env.CALLS_E2E_CONSOLE === "1") page.on("console", (m) => consoleLogs[index].push(`${new Date().toISOString()} ${m.text()}`));
  await page.context().addInitScript(forceTurnAndRecordPeerConnections);
  if (clock) await page.clock.install();
  return page;
}

/** The open call view (a dialog named "Call with <name>"). */
const callView = (page) => page.locator("[data-call-phase]");

async function waitForPhase(page, phase, options = SLOW) {
  await page.locator(`[data-call-phase="${phase}"]`).waitFor(options);
}

/** Waits until no call is shown (view, bar or ringing dialog). */
async function waitForNoCall(page) {
  await callView(page).waitFor({ state: "detached", ...SLOW });
  await page.getByTestId("incoming-call").waitFor({ state: "detached", ...SLOW });
  await page.getByRole("region", { name: "Ongoing call" }).waitFor({ state: "detached", ...SLOW });
}

/**
 * The live call's transport as getStats reports it: the selected candidate pair's candidate types and
 * bytes, the RTP streams, and the ICE policy the connection was made with.
 */
async function callStats(page) {
  return page.evaluate(async () => {
    const live = window.__pcs.filter(({ pc }) => pc.connectionState === "connected");
    if (live.length !== 1) {
      const states = window.__pcs.map(({ pc, config }) => `${pc.connectionState}/${pc.iceConnectionState}/${pc.signalingState}/${config?.iceTransportPolicy ?? "all"}`);
      return { error: `${live.length} connected peer connections (${states.join(", ")})` };
    }
    const { pc, config } = live[0];
    const stats = [...(await pc.getStats()).values()];
    const byId = new Map(stats.map((s) => [s.id, s]));
    const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
    const pair = byId.get(transport?.selectedCandidatePairId);
    const rtp = (type, kind) => stats.filter((s) => s.type === type && s.kind === kind);
    const total = (list, field) => list.reduce((a, s) => a + (s[field] ?? 0), 0);
    return {
      policy: config?.iceTransportPolicy ?? null,
      local: byId.get(pair?.localCandidateId)?.candidateType,
      remote: byId.get(pair?.remoteCandidateId)?.candidateType,
      remotePort: byId.get(pair?.remoteCandidateId)?.port,
      localAddress: byId.get(pair?.localCandidateId)?.address,
      bytesSent: pair?.bytesSent ?? 0,
      bytesReceived: pair?.bytesReceived ?? 0,
      audioIn: total(rtp("inbound-rtp", "audio"), "bytesReceived"),
      audioOut: total(rtp("outbound-rtp", "audio"), "bytesSent"),
      videoIn: total(rtp("inbound-rtp", "video"), "bytesReceived"),
      videoOut: total(rtp("outbound-rtp", "video"), "bytesSent"),
      videoInTracks: rtp("inbound-rtp", "video").filter((s) => (s.bytesReceived ?? 0) > 0).length,
    };
  });
}

/** Polls callStats until `check` passes (media takes a moment to flow), then returns the stats. */
async function statsUntil(page, check, what) {
  let stats;
  for (let i = 0; i < 60; i++) {
    stats = await callStats(page);
    if (!stats.error && check(stats)) return stats;
    await page.waitForTimeout(250);
  }
  assert.fail(`${what}: ${JSON.stringify(stats)}`);
}

/** Both sides connected over relay candidates with bytes both ways (and `media` RTP both ways). */
async function assertRelayedBothWays(page, media) {
  const stats = await statsUntil(
    page,
    (s) => s.bytesSent > 0 && s.bytesReceived > 0 && s[`${media}In`] > 0 && s[`${media}Out`] > 0,
    `${media} over the relay both ways`,
  );
  assert.equal(stats.policy, "relay", "the client asked for relay-only ICE (forceTURN)");
  assert.equal(stats.local, "relay", "our side of the selected pair is a TURN relay candidate");
  // The other side's relay address; "prflx" when its connectivity check arrived before its candidate
  // did (candidates travel through the sync): then its port is in coturn's relay range.
  assert.ok(
    stats.remote === "relay" || (stats.remote === "prflx" && stats.remotePort >= env.turn.relayPorts[0] && stats.remotePort <= env.turn.relayPorts[1]),
    `the other side's candidate is a TURN relay address: ${JSON.stringify(stats)}`,
  );
  assert.equal(stats.localAddress, "127.0.0.1");
  return stats;
}

/** After a failed test: end whatever call is left, so the next test starts clean. */
async function endCallsLeftOver() {
  for (const page of [alice, bob]) {
    if (!page || page.isClosed()) continue;
    await page.keyboard.press("Escape").catch(() => undefined);
    const ring = page.getByTestId("incoming-call");
    if (await ring.count()) await ring.getByRole("button", { name: "Decline" }).click().catch(() => undefined);
    const hangUp = page.getByRole("button", { name: "Hang up" });
    if (await hangUp.count()) await hangUp.first().click().catch(() => undefined);
  }
  for (const page of [alice, bob]) if (page && !page.isClosed()) await waitForNoCall(page).catch(() => undefined);
}

async function notice(page, pattern) {
  await messageLog(page).locator("li", { hasText: pattern }).last().waitFor(SLOW);
}

describe("calls (1:1 and group) through a real TURN relay", () => {
  before(async () => {
    env = await startEnvironment({ calls: true });
  });

  afterEach(endCallsLeftOver);

  after(async () => {
    consoleLogs.forEach((lines, i) => lines.length && writeFileSync(join(RESULTS_DIR, `calls-console-${i}.log`), lines.join("\n")));
    await env?.stop();
    writeFileSync(join(RESULTS_DIR, "calls-metrics.json"), JSON.stringify(metrics, null, 2));
  });

  test("the server's TURN credentials open a relayed connection through coturn", async () => {
    const token = await env.registerByApi("turnprobe");
    const { status, json: turn } = await env.api("GET", "/voip/turnServer", undefined, token);
    assert.equal(status, 200);
    assert.deepEqual(turn.uris, env.turn.uris);
    assert.ok(turn.username && turn.password && turn.ttl > 0, JSON.stringify(turn));
    const page = await env.newPage();
    await page.goto("/");
    // Two peer connections in one page, each allowed only relay candidates: they can reach each other
    // only through coturn's relay addresses, with the credentials the homeserver derived from the secret.
    const result = await page.evaluate(async (turn) => {
      const config = { iceServers: [{ urls: turn.uris, username: turn.username, credential: turn.password }], iceTransportPolicy: "relay" };
      const a = new RTCPeerConnection(config);
      const b = new RTCPeerConnection(config);
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      const channel = a.createDataChannel("probe");
      const received = new Promise((resolve) => (b.ondatachannel = (e) => (e.channel.onmessage = (m) => resolve(m.data))));
      const opened = new Promise((resolve) => (channel.onopen = resolve));
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription);
      await Promise.race([opened, new Promise((_, rej) => setTimeout(() => rej(new Error("no connection in 15 s")), 15_000))]);
      channel.send("hello through the relay");
      const text = await received;
      const stats = [...(await a.getStats()).values()];
      const pair = stats.find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
      const local = stats.find((s) => s.id === pair?.localCandidateId);
      const remote = stats.find((s) => s.id === pair?.remoteCandidateId);
      a.close();
      b.close();
      return { text, local: local?.candidateType, remote: remote?.candidateType, address: local?.address };
    }, turn);
    assert.equal(result.text, "hello through the relay");
    assert.equal(result.local, "relay");
    assert.equal(result.remote, "relay");
    assert.equal(result.address, "127.0.0.1");
    assert.ok(env.turn.allocations() >= 2, "coturn logged the two allocations");
    await page.context().close();
  });

  test("alice and bob, in an encrypted direct chat, see voice and video call buttons", async () => {
    ({ alice, bob } = await aliceAndBobInDirectChat({ newPage: () => callPage() }, "Shall we talk?"));
    for (const page of [alice, bob]) {
      await page.getByRole("button", { name: "Voice call" }).waitFor();
      await page.getByRole("button", { name: "Video call" }).waitFor();
    }
  });

  test("a voice call rings, connects through the relay both ways, shows mute on the other side, and hangs up on both", async () => {
    const t0 = Date.now();
    await alice.getByRole("button", { name: "Voice call" }).click();
    await waitForPhase(alice, "calling");
    const ring = bob.getByRole("dialog", { name: "Incoming voice call" });
    await ring.waitFor(SLOW);
    metrics.voice_invite_to_ring_ms = Date.now() - t0;
    assert.equal(await bob.evaluate(() => document.documentElement.dataset.ringing), "true", "the ring tone plays");
    await ring.getByText("alice", { exact: true }).waitFor();
    await shotDesktopAndPhone(bob, "call-ringing");
    const t1 = Date.now();
    await ring.getByRole("button", { name: "Accept", exact: true }).click();
    await waitForPhase(alice, "connected");
    await waitForPhase(bob, "connected");
    metrics.voice_accept_to_connected_ms = Date.now() - t1;
    metrics.voice_click_to_connected_ms_caller = await alice.evaluate(() => window.__callConnectedMs);
    metrics.voice_accept_to_connected_ms_callee = await bob.evaluate(() => window.__callConnectedMs);
    assert.equal(await bob.evaluate(() => document.documentElement.dataset.ringing), undefined, "the ring stopped");

    const aliceStats = await assertRelayedBothWays(alice, "audio");
    const bobStats = await assertRelayedBothWays(bob, "audio");
    metrics.voice_relay = { alice: aliceStats, bob: bobStats };
    assert.equal(aliceStats.videoOut, 0, "a voice call sends no video");

    // The quality indicator and its details say the media is relayed.
    await alice.locator("[data-quality]:not([data-quality=unknown])").waitFor(SLOW);
    await alice.getByRole("button", { name: /connection: details/ }).click();
    await alice.getByTestId("call-route").filter({ hasText: "Relayed through the TURN server" }).waitFor(SLOW);
    assert.match(await alice.getByRole("region", { name: "Connection details" }).innerText(), /relay ↔ relay/);

    // Mute shows on the other side, and goes away on unmute.
    await alice.getByRole("button", { name: "Mute microphone" }).click();
    await bob.getByTestId("remote-muted").filter({ hasText: "alice muted their microphone" }).waitFor(SLOW);
    await alice.getByRole("button", { name: "Unmute microphone" }).click();
    await bob.getByTestId("remote-muted").waitFor({ state: "detached", ...SLOW });

    // The duration timer runs.
    await alice.getByTestId("call-status").filter({ hasText: /^0:0[1-9]/ }).waitFor(SLOW);

    // Hold: bob holds, alice is told; resume.
    await bob.getByRole("button", { name: "Put the call on hold" }).click();
    await alice.getByTestId("call-status").filter({ hasText: "bob put the call on hold" }).waitFor(SLOW);
    await bob.getByRole("button", { name: "Resume the call" }).click();
    await alice.getByTestId("call-status").filter({ hasText: /^\d+:\d\d$/ }).waitFor(SLOW);

    // Back to the chats: the call continues, with a bar to return.
    await alice.getByRole("button", { name: /Back to chats/ }).click();
    const bar = alice.getByRole("region", { name: "Ongoing call" });
    await bar.waitFor();
    await alice.getByRole("textbox", { name: "Message", exact: true }).waitFor();
    await bar.getByRole("button", { name: "Return to call" }).click();
    await waitForPhase(alice, "connected");

    await alice.getByRole("button", { name: "Hang up" }).click();
    await waitForNoCall(alice);
    await waitForNoCall(bob);
    await bob.getByRole("status").filter({ hasText: "alice ended the call" }).waitFor(SLOW);
    await notice(alice, /Voice call you started · ended after \d+:\d\d/);
    await notice(bob, /Voice call from alice · ended after \d+:\d\d/);
  });

  test("a video call shows both cameras over the relay; a screen share arrives as a video track", async () => {
    const t0 = Date.now();
    await alice.getByRole("button", { name: "Video call" }).click();
    const ring = bob.getByRole("dialog", { name: "Incoming video call" });
    await ring.waitFor(SLOW);
    await ring.getByRole("button", { name: "Accept with video" }).click();
    await waitForPhase(alice, "connected");
    await waitForPhase(bob, "connected");
    metrics.video_click_to_connected_ms_including_answer = Date.now() - t0;
    metrics.video_click_to_connected_ms_caller = await alice.evaluate(() => window.__callConnectedMs);
    await assertRelayedBothWays(alice, "video");
    await assertRelayedBothWays(bob, "video");
    // Bob's page draws alice's camera (the fake device's test pattern), and his own self view.
    const aliceCamera = bob.getByLabel("alice's camera");
    await bob.waitForFunction(() => document.querySelector('video[aria-label="alice\'s camera"]')?.videoWidth > 0, null, SLOW);
    assert.ok(await aliceCamera.isVisible());
    await bob.getByTestId("self-view").waitFor();
    // CPU during a 1:1 video call (the fake camera at 640x480, both ways through the relay), over 5 s:
    // bob's renderer main thread (CDP Performance.getMetrics TaskDuration), and every Chromium process
    // (SystemInfo.getProcessInfo cpuTime: both pages' renderers, the GPU, network and audio processes;
    // both ends of the call run in this one browser).
    const cdp = await bob.context().newCDPSession(bob);
    await cdp.send("Performance.enable");
    const busy = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value])).TaskDuration;
    const browserCdp = await env.browser.newBrowserCDPSession();
    const cpu = async () => {
      try {
        const { processInfo } = await browserCdp.send("SystemInfo.getProcessInfo");
        return processInfo.reduce((a, p) => a + p.cpuTime, 0);
      } catch {
        return null; // not offered by this Chromium
      }
    };
    const [busy0, cpu0, wall0] = [await busy(), await cpu(), Date.now()];
    await bob.waitForTimeout(5000);
    const [busy1, cpu1, wall1] = [await busy(), await cpu(), Date.now()];
    const seconds = (wall1 - wall0) / 1000;
    metrics.video_call_cpu = {
      callee_main_thread_percent: Math.round((1000 * (busy1 - busy0)) / seconds) / 10,
      all_chromium_processes_percent_of_one_core: cpu0 === null ? null : Math.round((1000 * (cpu1 - cpu0)) / seconds) / 10,
      seconds,
    };
    await cdp.detach();
    await browserCdp.detach();
    await shotDesktopAndPhone(bob, "call-video");
    await bob.setViewportSize(PHONE);
    await assertNoHorizontalScroll(bob);
    await bob.setViewportSize(DESKTOP);

    // The self view can be moved.
    const self = bob.getByTestId("self-view");
    const before = await self.boundingBox();
    await bob.mouse.move(before.x + 10, before.y + 10);
    await bob.mouse.down();
    await bob.mouse.move(before.x - 300, before.y - 200, { steps: 5 });
    await bob.mouse.up();
    const moved = await self.boundingBox();
    assert.ok(moved.x < before.x - 100 && moved.y < before.y - 100, `the self view moved (${JSON.stringify([before, moved])})`);

    // Camera off shows on the other side.
    await alice.getByRole("button", { name: "Turn camera off" }).click();
    await bob.getByText("alice's camera is off").waitFor(SLOW);
    await alice.getByRole("button", { name: "Turn camera on" }).click();
    await bob.getByText("alice's camera is off").waitFor({ state: "detached", ...SLOW });

    // Screen sharing: a second video track (renegotiated with m.call.negotiate) that bob sees.
    await alice.getByRole("button", { name: "Share your screen" }).click();
    await alice.getByRole("button", { name: "Stop sharing your screen" }).waitFor(SLOW);
    await bob.getByText("alice is sharing their screen").waitFor(SLOW);
    await bob.waitForFunction(() => document.querySelector('video[aria-label="alice\'s screen"]')?.videoWidth > 0, null, SLOW);
    const shared = await statsUntil(bob, (s) => s.videoInTracks >= 2, "two incoming video tracks (camera and screen)");
    metrics.screenshare_incoming_video_tracks = shared.videoInTracks;
    await bob.waitForTimeout(500);
    await shotDesktopAndPhone(bob, "call-screenshare");
    await alice.getByRole("button", { name: "Stop sharing your screen" }).click();
    await bob.getByText("alice is sharing their screen").waitFor({ state: "detached", ...SLOW });

    await bob.getByRole("button", { name: "Hang up" }).click();
    await waitForNoCall(alice);
    await waitForNoCall(bob);
    await alice.getByRole("status").filter({ hasText: "bob ended the call" }).waitFor(SLOW);
    await notice(alice, /Video call you started · ended after \d+:\d\d/);
  });

  test("a video call answered without video: only the caller's camera is sent", async () => {
    await alice.getByRole("button", { name: "Video call" }).click();
    const ring = bob.getByRole("dialog", { name: "Incoming video call" });
    await ring.waitFor(SLOW);
    await ring.getByRole("button", { name: "Accept without video" }).click();
    await waitForPhase(alice, "connected");
    await waitForPhase(bob, "connected");
    const bobStats = await statsUntil(bob, (s) => s.videoIn > 0 && s.audioOut > 0, "bob receives alice's video and sends audio");
    assert.equal(bobStats.videoOut, 0, "bob sends no video");
    await alice.getByText("bob's camera is off").waitFor(SLOW);
    assert.equal(await bob.getByRole("button", { name: "Turn camera on" }).count(), 1, "bob's camera shows as off");
    await alice.getByRole("button", { name: "Hang up" }).click();
    await waitForNoCall(alice);
    await waitForNoCall(bob);
  });

  test("when the relay goes away mid-call, an ICE restart reconnects the call", async () => {
    await alice.getByRole("button", { name: "Voice call" }).click();
    await bob.getByRole("dialog", { name: "Incoming voice call" }).getByRole("button", { name: "Accept", exact: true }).click(SLOW);
    await waitForPhase(alice, "connected");
    await assertRelayedBothWays(alice, "audio");
    const pairOf = (page) => page.evaluate(async () => {
      const { pc } = window.__pcs.find(({ pc }) => pc.connectionState !== "closed" && pc.signalingState !== "closed");
      const stats = [...(await pc.getStats()).values()];
      const t = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
      const pair = stats.find((s) => s.id === t?.selectedCandidatePairId);
      const local = stats.find((s) => s.id === pair?.localCandidateId);
      return { ice: pc.iceConnectionState, port: local?.port, type: local?.candidateType };
    });
    const before = await pairOf(alice);
    // Every relay allocation is lost (as when a network changes): the connection drops, the SDK restarts
    // ICE (m.call.negotiate with new candidates) and both sides reconnect through new allocations.
    const t0 = Date.now();
    await env.turn.restart();
    await alice.waitForFunction(() => window.__pcs.some(({ pc }) => ["disconnected", "failed"].includes(pc.iceConnectionState)), null, { timeout: 60_000 });
    await alice.waitForFunction(
      () => window.__pcs.some(({ pc }) => ["connected", "completed"].includes(pc.iceConnectionState)),
      null,
      { timeout: 60_000 },
    );
    const after = await pairOf(alice);
    assert.equal(after.type, "relay");
    assert.notEqual(after.port, before.port, "a new relay allocation carries the call");
    const received = (await callStats(alice)).audioIn;
    await statsUntil(alice, (s) => s.audioIn > received, "audio flows again after the ICE restart");
    metrics.ice_restart_recovery_ms = Date.now() - t0;
    await waitForPhase(alice, "connected");
    await waitForPhase(bob, "connected");
    await alice.getByRole("button", { name: "Hang up" }).click();
    await waitForNoCall(alice);
    await waitForNoCall(bob);
  });

  test("a declined call ends for the caller", async () => {
    await alice.getByRole("button", { name: "Voice call" }).click();
    const ring = bob.getByRole("dialog", { name: "Incoming voice call" });
    await ring.waitFor(SLOW);
    await ring.getByRole("button", { name: "Decline" }).click();
    await waitForNoCall(bob);
    await waitForNoCall(alice);
    await alice.getByRole("status").filter({ hasText: "bob declined the call" }).waitFor(SLOW);
    await notice(alice, "Voice call declined by bob");
    await notice(bob, "You declined a voice call from alice");
  });

  test("glare: both call at once and end up in one call", async () => {
    // Both invites must be on their way before either arrives: each page's first room event send (the
    // encrypted m.call.invite) is held until the other page's is too, then both go.
    const held = [];
    let release;
    const bothSent = new Promise((resolve) => (release = resolve));
    const hold = (route) => {
      held.push(route);
      if (held.length === 2) release();
      return bothSent.then(() => route.continue());
    };
    const pattern = "**/_matrix/client/v3/rooms/*/send/**";
    await alice.route(pattern, hold, { times: 1 });
    await bob.route(pattern, hold, { times: 1 });
    await Promise.all([alice.getByRole("button", { name: "Voice call" }).click(), bob.getByRole("button", { name: "Voice call" }).click()]);
    await bothSent;
    await waitForPhase(alice, "connected");
    await waitForPhase(bob, "connected");
    const [a, b] = [await callView(alice).getAttribute("data-call-id"), await callView(bob).getAttribute("data-call-id")];
    assert.equal(a, b, "both sides are in the same call");
    // Neither rang: the SDK answered the surviving call with the media already acquired.
    assert.equal(await alice.getByTestId("incoming-call").count(), 0);
    assert.equal(await bob.getByTestId("incoming-call").count(), 0);
    await assertRelayedBothWays(alice, "audio");
    await alice.getByRole("button", { name: "Hang up" }).click();
    await waitForNoCall(alice);
    await waitForNoCall(bob);
  });

  test("the microphone can be switched during a call; media keeps flowing", async () => {
    await alice.getByRole("button", { name: "Voice call" }).click();
    await bob.getByRole("dialog", { name: "Incoming voice call" }).getByRole("button", { name: "Accept", exact: true }).click(SLOW);
    await waitForPhase(alice, "connected");
    await assertRelayedBothWays(alice, "audio");
    const micLabel = () => alice.evaluate(() => {
      const { pc } = window.__pcs.find(({ pc }) => pc.connectionState === "connected");
      return pc.getSenders().find((s) => s.track?.kind === "audio")?.track.label;
    });
    const before = await micLabel();
    await alice.getByRole("button", { name: "Microphone, camera and speaker" }).click();
    const menu = alice.getByRole("menu");
    // The first group lists the microphones, the one in use checked; take another.
    const mics = menu.getByRole("group").first().getByRole("menuitemradio");
    await mics.first().waitFor();
    const labels = (await mics.allTextContents()).map((l) => l.replace("✓", "").trim());
    const other = labels.find((l) => l !== before);
    assert.ok(other, `Chromium's fake devices offer another microphone (${labels.join(", ")}; using ${before})`);
    await menu.getByRole("group").first().getByRole("menuitemradio", { name: other }).click();
    await alice.waitForFunction(
      (label) => window.__pcs.some(({ pc }) => pc.getSenders().some((s) => s.track?.kind === "audio" && s.track.label === label)),
      other,
      SLOW,
    ).catch(async (e) => {
      const senders = await alice.evaluate(() => window.__pcs.map(({ pc }) => [pc.connectionState, pc.getSenders().map((s) => `${s.track?.kind}:${s.track?.label}:${s.track?.readyState}`)]));
      assert.fail(`${e.message}; chose ${other} of ${labels.join(", ")}; senders ${JSON.stringify(senders)}`);
    });
    const sent = (await callStats(alice)).audioOut;
    await statsUntil(alice, (s) => s.audioOut > sent, "audio keeps flowing from the new microphone");
    assert.equal(JSON.parse(await alice.evaluate(() => localStorage.getItem("hs.callDevices"))).audioInput !== undefined, true);
    await alice.getByRole("button", { name: "Hang up" }).click();
    await waitForNoCall(alice);
    await waitForNoCall(bob);
    await alice.evaluate(() => localStorage.removeItem("hs.callDevices"));
  });

  test("a call answered on another of bob's devices stops ringing there; a hidden tab gets a desktop notification", async () => {
    // Bob's second browser; its tab reports itself hidden, and Notification is recorded.
    const bob2 = await callPage();
    await bob2.context().addInitScript(() => {
      Object.defineProperty(document, "hidden", { get: () => true });
      Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
      const Native = window.Notification;
      window.__notifications = [];
      window.Notification = class extends Native {
        constructor(title, options) {
          super(title, options);
          const record = { title, body: options?.body, closed: false };
          window.__notifications.push(record);
          const close = this.close.bind(this);
          this.close = () => ((record.closed = true), close());
        }
      };
    });
    await bob2.goto("/");
    await bob2.getByLabel("User name").fill("bob");
    await bob2.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await bob2.getByRole("button", { name: "Log in" }).click();
    await waitForRoomList(bob2, { timeout: 60_000 });
    await waitForCryptoSettled(bob2);
    assert.equal(await bob2.evaluate(() => Notification.permission), "granted");
    // Alice's client learns of the new device and shares its room key with it before calling.
    await openChat(alice, "bob");
    await sendMessage(alice, "Calling both of your devices");
    await openChat(bob2, "alice");
    await messageLog(bob2).getByText("Calling both of your devices").waitFor(SLOW);

    await alice.getByRole("button", { name: "Voice call" }).click();
    const ring2 = bob2.getByRole("dialog", { name: "Incoming voice call" });
    await ring2.waitFor(SLOW);
    await bob.getByRole("dialog", { name: "Incoming voice call" }).waitFor(SLOW);
    const notes = await bob2.evaluate(() => window.__notifications);
    assert.deepEqual(notes.map(({ title, body }) => ({ title, body })), [{ title: "alice is calling", body: "Incoming voice call" }]);
    await bob.getByRole("dialog", { name: "Incoming voice call" }).getByRole("button", { name: "Accept", exact: true }).click();
    await waitForPhase(alice, "connected");
    await waitForPhase(bob, "connected");
    await ring2.waitFor({ state: "detached", ...SLOW });
    await bob2.getByRole("status").filter({ hasText: "The call was answered on another device" }).waitFor(SLOW);
    assert.equal((await bob2.evaluate(() => window.__notifications))[0].closed, true, "the notification closed");
    await alice.getByRole("button", { name: "Hang up" }).click();
    await waitForNoCall(bob);
    await waitForNoCall(bob2);
    await bob2.context().close();
  });

  test("call settings: device lists, camera preview and microphone level; refused or missing devices are explained", async () => {
    const settings = await openSettings(alice, "Calls");
    await settings.getByRole("button", { name: "Check microphone and camera" }).click();
    await alice.waitForFunction(() => document.querySelector('video[aria-label="Camera preview"]')?.videoWidth > 0, null, SLOW);
    // The fake microphone beeps: the meter moves.
    await alice.waitForFunction(() => Number(document.querySelector('[role=meter][aria-label="Microphone level"]')?.getAttribute("aria-valuenow")) > 0, null, SLOW);
    // Device names are listed once the site may use the devices.
    await settings.getByLabel("Microphone", { exact: true }).locator("option", { hasText: /Fake/ }).first().waitFor({ state: "attached" });
    await settings.getByLabel("Camera", { exact: true }).locator("option", { hasText: /fake/i }).first().waitFor({ state: "attached" });
    await shot(alice, "call-settings");
    // Choosing a camera is remembered for calls.
    const cameras = settings.getByLabel("Camera", { exact: true });
    const cameraIds = await cameras.locator("option").evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    await cameras.selectOption(cameraIds[0]);
    assert.equal(JSON.parse(await alice.evaluate(() => localStorage.getItem("hs.callDevices"))).videoInput, cameraIds[0]);
    await alice.keyboard.press("Escape");
    await alice.evaluate(() => localStorage.removeItem("hs.callDevices"));

    // A browser that refuses (or has no devices): getUserMedia fails with the DOMException browsers give.
    const dave = await callPage();
    await dave.context().addInitScript(() => {
      navigator.mediaDevices.getUserMedia = async () => {
        throw new DOMException("denied by the test", window.__gumError ?? "NotAllowedError");
      };
    });
    await register(dave, "dave");
    const daveSettings = await openSettings(dave, "Calls");
    await daveSettings.getByRole("button", { name: "Check microphone and camera" }).click();
    await daveSettings.getByRole("alert").filter({ hasText: "The browser blocked the microphone and camera" }).waitFor();
    await dave.evaluate(() => (window.__gumError = "NotFoundError"));
    await daveSettings.getByRole("button", { name: "Check microphone and camera" }).click();
    await daveSettings.getByRole("alert").filter({ hasText: "No microphone or camera was found" }).waitFor();
    await dave.context().close();
  });

  test("time from call to connected media, relayed and direct", async () => {
    // Caller's click to the caller's first received audio, with the callee accepting as soon as it rings.
    const run = async () => {
      const t0 = Date.now();
      await alice.getByRole("button", { name: "Voice call" }).click();
      await bob.getByRole("dialog", { name: "Incoming voice call" }).getByRole("button", { name: "Accept", exact: true }).click(SLOW);
      const stats = await statsUntil(alice, (s) => s.audioIn > 0, "audio arrives");
      const ms = Date.now() - t0;
      const inPage = await alice.evaluate(() => window.__callConnectedMs);
      await alice.getByRole("button", { name: "Hang up" }).click();
      await waitForNoCall(alice);
      await waitForNoCall(bob);
      return { ms, connected_state_ms: inPage, route: stats.local };
    };
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const relayed = [];
    for (let i = 0; i < 3; i++) relayed.push(await run());
    assert.ok(relayed.every((r) => r.route === "relay"));
    // Direct: the same two clients without forceTURN (host candidates on loopback).
    for (const page of [alice, bob]) {
      await page.evaluate(() => sessionStorage.setItem("hs.test.direct", "1"));
      await page.reload();
      await waitForRoomList(page);
      await page.getByRole("button", { name: "Voice call" }).or(page.getByRole("heading", { name: "Chats" })).first().waitFor();
    }
    await openChat(alice, "bob");
    await openChat(bob, "alice");
    const direct = [];
    for (let i = 0; i < 3; i++) direct.push(await run());
    assert.ok(direct.every((r) => r.route !== "relay"), JSON.stringify(direct));
    metrics.call_to_media_ms = {
      what: "caller's click on Voice call to the caller's first received audio bytes, callee accepting as soon as it rings (includes the test's click)",
      relayed: { median: median(relayed.map((r) => r.ms)), samples: relayed },
      direct: { median: median(direct.map((r) => r.ms)), samples: direct },
    };
    for (const page of [alice, bob]) {
      await page.evaluate(() => sessionStorage.removeItem("hs.test.direct"));
      await page.reload();
      await waitForRoomList(page);
    }
    await openChat(alice, "bob");
    await openChat(bob, "alice");
  });

  test("a call nobody answers ends when its invite's lifetime runs out, as a missed call", async () => {
    // Carol's page runs on Playwright's clock, so the SDK's own 60 s invite timer can be run forward;
    // nothing here waits for it in real time.
    const carol = await callPage(DESKTOP, { clock: true });
    await register(carol, "carol");
    await startDirectChat(carol, "@bob:localhost", { searchFor: "bob" });
    await sendMessage(carol, "Are you there?");
    await acceptInvitation(bob);
    await messageLog(bob).getByText("Are you there?").waitFor(SLOW);
    await carol.getByRole("button", { name: "Voice call" }).click();
    const ring = bob.getByRole("dialog", { name: "Incoming voice call" });
    await ring.waitFor(SLOW);
    await waitForPhase(carol, "calling");
    await carol.clock.fastForward(61_000);
    await waitForNoCall(carol);
    await carol.getByRole("status").filter({ hasText: "bob did not answer" }).waitFor(SLOW);
    await ring.waitFor({ state: "detached", ...SLOW });
    await bob.getByRole("status").filter({ hasText: "Missed call from carol" }).waitFor(SLOW);
    await notice(bob, "Missed voice call from carol");
    await notice(carol, "Voice call not answered");
    await shot(bob, "call-missed");
    await carol.context().close();
  });
  test("a group call with three people: everyone receives everyone's audio through the relay", async () => {
    // Three fresh people (carol is in a missed-call test above): gina makes a group, hank and ivy join.
    const GROUP = "Call group";
    const pages = {};
    for (const name of ["gina", "hank", "ivy"]) {
      pages[name] = await callPage();
      await register(pages[name], name);
    }
    const { gina, hank, ivy } = pages;
    await gina.getByRole("button", { name: "New group" }).click();
    await gina.getByLabel("Name").fill(GROUP);
    await gina.getByLabel(/Invite/).fill("hank, ivy");
    await gina.getByRole("button", { name: "Create group" }).click();
    await gina.getByRole("heading", { name: GROUP }).waitFor();
    await acceptInvitation(hank, GROUP);
    await acceptInvitation(ivy, GROUP);
    for (const page of [hank, ivy]) await page.getByRole("heading", { name: GROUP }).waitFor(SLOW);

    // Gina starts it, after the notice about unencrypted signalling.
    await gina.getByRole("button", { name: "Start a group call" }).click();
    const prompt = gina.getByRole("dialog", { name: `Start a group call in ${GROUP}?` });
    await prompt.getByText("without end-to-end encryption").waitFor();
    await prompt.getByRole("button", { name: "Start with video" }).click();
    await gina.locator("[data-group-call-size]").waitFor(SLOW);

    // The others see the call in the room, with who is in it, and join: hank with video, ivy voice only.
    for (const [page, how] of [[hank, "Join with video"], [ivy, "Join with voice only"]]) {
      const banner = page.getByRole("region", { name: "Group call in this room" });
      await banner.getByText("gina").waitFor(SLOW);
      await banner.getByRole("button", { name: "Join" }).click();
      await page.getByRole("dialog", { name: `Join the group call in ${GROUP}?` }).getByRole("button", { name: how }).click();
    }
    for (const page of [gina, hank, ivy]) await page.locator('[data-group-call-size="3"]').waitFor(SLOW);

    // Each of them has a relayed connection to each of the other two, receiving audio on both.
    const groupStats = (page) => page.evaluate(async () => {
      const out = [];
      for (const { pc, config } of window.__pcs) {
        if (pc.connectionState !== "connected") continue;
        const stats = [...(await pc.getStats()).values()];
        const t = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
        const pair = stats.find((s) => s.id === t?.selectedCandidatePairId);
        const local = stats.find((s) => s.id === pair?.localCandidateId);
        const audioIn = stats.filter((s) => s.type === "inbound-rtp" && s.kind === "audio").reduce((a, s) => a + (s.bytesReceived ?? 0), 0);
        out.push({ policy: config?.iceTransportPolicy, local: local?.candidateType, audioIn });
      }
      return out;
    });
    for (const [name, page] of Object.entries(pages)) {
      let conns = [];
      for (let i = 0; i < 80; i++) {
        conns = await groupStats(page);
        if (conns.length === 2 && conns.every((c) => c.audioIn > 0)) break;
        await page.waitForTimeout(250);
      }
      assert.equal(conns.length, 2, `${name} has a connection to each of the other two: ${JSON.stringify(conns)}`);
      for (const c of conns) {
        assert.ok(c.audioIn > 0, `${name} receives audio: ${JSON.stringify(conns)}`);
        assert.equal(c.local, "relay");
        assert.equal(c.policy, "relay");
      }
      // The grid shows the three of them, and plays the two others.
      assert.equal(await page.getByRole("list", { name: "Participants" }).getByRole("listitem").count(), 3);
      assert.equal(await page.getByTestId("group-call-audio").count(), 2);
    }
    // Gina sees hank's camera; ivy joined without hers.
    await gina.waitForFunction(() => document.querySelector('[data-user-id="@hank:localhost"] video')?.videoWidth > 0, null, SLOW);
    assert.equal(await gina.locator('[data-user-id="@ivy:localhost"] video.hidden').count(), 1, "ivy's tile shows her avatar");
    // Who is speaking: the SDK's loudest feed (the fake microphones beep) gets a ring.
    await gina.locator("[data-speaking=true]").first().waitFor(SLOW);
    // Mute shows on the others' grids.
    await hank.getByRole("button", { name: "Mute microphone" }).click();
    await gina.locator('[data-user-id="@hank:localhost"]').getByLabel("muted").waitFor(SLOW);
    await hank.getByRole("button", { name: "Unmute microphone" }).click();
    await shotDesktopAndPhone(gina, "group-call");
    await gina.setViewportSize(PHONE);
    await assertNoHorizontalScroll(gina);
    await gina.setViewportSize(DESKTOP);

    // Leaving: the others see two, then the last one out ends the call and the room shows none.
    await ivy.getByRole("button", { name: "Leave the call" }).click();
    await gina.locator('[data-group-call-size="2"]').waitFor(SLOW);
    await hank.getByRole("button", { name: "Leave the call" }).click();
    await gina.getByRole("button", { name: "Leave the call" }).click();
    await ivy.getByRole("region", { name: "Group call in this room" }).waitFor({ state: "detached", ...SLOW });
    for (const page of [gina, hank, ivy]) await page.context().close();
  });
});
