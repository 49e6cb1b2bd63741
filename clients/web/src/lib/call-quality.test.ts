import { describe, expect, it } from "vitest";
import { classifyQuality, routeLabel, selectedCandidatePair, summarizeStats, type Stat } from "./call-quality";

function snapshot(t: number, { sent, received, lost, got, rtt = 0.05, jitter = 0.004, local = "relay" }: {
  sent: number; received: number; lost: number; got: number; rtt?: number; jitter?: number; local?: string;
}): Stat[] {
  return [
    { id: "T1", type: "transport", timestamp: t, selectedCandidatePairId: "CP1" },
    { id: "CP1", type: "candidate-pair", timestamp: t, localCandidateId: "L1", remoteCandidateId: "R1", nominated: true,
      state: "succeeded", currentRoundTripTime: rtt, bytesSent: sent, bytesReceived: received },
    { id: "CP2", type: "candidate-pair", timestamp: t, localCandidateId: "L2", remoteCandidateId: "R1", nominated: false,
      state: "failed", bytesSent: 0, bytesReceived: 0 },
    { id: "L1", type: "local-candidate", candidateType: local, protocol: "udp", relayProtocol: local === "relay" ? "udp" : undefined },
    { id: "L2", type: "local-candidate", candidateType: "host", protocol: "udp" },
    { id: "R1", type: "remote-candidate", candidateType: "relay" },
    { id: "IA", type: "inbound-rtp", kind: "audio", packetsLost: lost, packetsReceived: got, jitter },
    { id: "IV", type: "inbound-rtp", kind: "video", packetsLost: 0, packetsReceived: got, jitter: jitter / 2, frameWidth: 640,
      frameHeight: 480, framesPerSecond: 30 },
  ];
}

describe("summarizeStats", () => {
  it("reads the selected pair through the transport, the route, loss and bitrate over the interval", () => {
    const before = snapshot(1000, { sent: 10_000, received: 20_000, lost: 0, got: 100 });
    const now = snapshot(3000, { sent: 60_000, received: 45_000, lost: 10, got: 290 });
    const s = summarizeStats(now, before);
    expect(s.route).toBe("relay");
    expect(s.localCandidateType).toBe("relay");
    expect(s.remoteCandidateType).toBe("relay");
    expect(s.relayProtocol).toBe("udp");
    expect(s.rttMs).toBeCloseTo(50);
    expect(s.jitterMs).toBeCloseTo(4);
    // 10 lost of 10 + 380 expected in the interval (190 more on each of two streams)
    expect(s.lossPercent).toBeCloseTo((100 * 10) / 390);
    expect(s.sendKbps).toBeCloseTo((8 * 50_000) / 1000 / 2);
    expect(s.receiveKbps).toBeCloseTo((8 * 25_000) / 1000 / 2);
    expect(s.bytesSent).toBe(60_000);
    expect(s.videoReceive).toEqual({ width: 640, height: 480, fps: 30 });
    expect(routeLabel(s)).toBe("Relayed through the TURN server (UDP)");
  });

  it("says direct for host candidates, and has no bitrate on the first snapshot", () => {
    const s = summarizeStats(snapshot(1000, { sent: 1, received: 2, lost: 0, got: 5, local: "host" }));
    expect(s.route).toBe("direct");
    expect(s.sendKbps).toBeNull();
    expect(s.lossPercent).toBe(0);
    expect(routeLabel(s)).toBe("Direct (peer to peer)");
  });

  it("falls back to a nominated succeeded pair without transport stats, and knows nothing without one", () => {
    const stats = snapshot(1000, { sent: 1, received: 2, lost: 0, got: 5 }).filter((s) => s.type !== "transport");
    expect(selectedCandidatePair(stats)?.id).toBe("CP1");
    const none = summarizeStats([]);
    expect(none.route).toBeNull();
    expect(none.rttMs).toBeNull();
    expect(classifyQuality(none)).toBe("unknown");
    expect(routeLabel(none)).toBe("Not connected yet");
  });
});

describe("classifyQuality", () => {
  const base = { rttMs: 40, lossPercent: 0, jitterMs: 5, receiveKbps: 500 };
  it("is good on a clean link", () => expect(classifyQuality(base)).toBe("good"));
  it("is fair from 150 ms, 2% loss or 30 ms jitter", () => {
    expect(classifyQuality({ ...base, rttMs: 150 })).toBe("fair");
    expect(classifyQuality({ ...base, lossPercent: 2.5 })).toBe("fair");
    expect(classifyQuality({ ...base, jitterMs: 30 })).toBe("fair");
    expect(classifyQuality({ ...base, rttMs: 149, lossPercent: 1.9, jitterMs: 29 })).toBe("good");
  });
  it("is poor from 400 ms, 10% loss or 100 ms jitter, or when nothing arrives", () => {
    expect(classifyQuality({ ...base, rttMs: 400 })).toBe("poor");
    expect(classifyQuality({ ...base, lossPercent: 12 })).toBe("poor");
    expect(classifyQuality({ ...base, jitterMs: 150 })).toBe("poor");
    expect(classifyQuality({ ...base, receiveKbps: 0 }, { expectMedia: true })).toBe("poor");
    expect(classifyQuality({ ...base, receiveKbps: 0 })).toBe("good");
  });
});
