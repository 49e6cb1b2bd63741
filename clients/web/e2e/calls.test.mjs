// Calls end to end: the built client, the REAL homeserver process and a REAL coturn on loopback (its
// `use-auth-secret` matching the server's `turn_shared_secret`), two browser contexts in headless Chromium
// with fake camera, microphone and screen. Media is forced through the relay (iceTransportPolicy "relay").
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startEnvironment } from "./support.mjs";

let env;

describe("calls through a real TURN relay", () => {
  before(async () => {
    env = await startEnvironment({ calls: true });
  });

  after(async () => {
    await env?.stop();
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
});
