/**
 * Call quality from WebRTC statistics, as plain data (no SDK, no browser objects), so it is unit-tested.
 * `summarizeStats` turns two `RTCPeerConnection.getStats()` snapshots (as arrays of plain stats objects)
 * into round-trip time, packet loss, jitter, bitrates and the route (direct or relayed through TURN);
 * `classifyQuality` says good / fair / poor.
 */

export type Quality = "good" | "fair" | "poor" | "unknown";

export interface CallStatsSummary {
  /** Round-trip time of the selected candidate pair, in ms (null: not measured yet). */
  rttMs: number | null;
  /** Packets lost of those expected on what we receive, in percent, since the previous snapshot. */
  lossPercent: number | null;
  /** Jitter of what we receive, in ms (the worst stream). */
  jitterMs: number | null;
  /** Bitrates over the interval between the snapshots, in kbit/s. */
  sendKbps: number | null;
  receiveKbps: number | null;
  /** Totals on the selected candidate pair. */
  bytesSent: number;
  bytesReceived: number;
  /** "relay" when our side of the pair is a TURN relay candidate, "direct" for host / srflx / prflx. */
  route: "relay" | "direct" | null;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
  /** e.g. "udp" */
  protocol: string | null;
  /** The relay's protocol towards the TURN server ("udp", "tcp", "tls"), for relay candidates. */
  relayProtocol: string | null;
  /** Receiving: the video's frame size and rate, if any. */
  videoReceive: { width: number; height: number; fps: number | null } | null;
}

/** A stats object as `getStats()` gives it (only the fields read here). */
export type Stat = Record<string, unknown> & { id: string; type: string; timestamp?: number };

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** The candidate pair in use: the transport's selected pair, else a nominated succeeded one. */
export function selectedCandidatePair(stats: Stat[]): Stat | null {
  const byId = new Map(stats.map((s) => [s.id, s]));
  for (const t of stats) {
    if (t.type !== "transport") continue;
    const pair = byId.get(String(t.selectedCandidatePairId ?? ""));
    if (pair) return pair;
  }
  return (
    stats.find((s) => s.type === "candidate-pair" && s.nominated === true && s.state === "succeeded") ??
    stats.find((s) => s.type === "candidate-pair" && s.selected === true) ??
    null
  );
}

function sum(stats: Stat[], type: string, field: string, filter: (s: Stat) => boolean = () => true): number {
  return stats.filter((s) => s.type === type && filter(s)).reduce((acc, s) => acc + (num(s[field]) ?? 0), 0);
}

export function summarizeStats(current: Stat[], previous: Stat[] | null = null): CallStatsSummary {
  const byId = new Map(current.map((s) => [s.id, s]));
  const pair = selectedCandidatePair(current);
  const local = pair ? byId.get(String(pair.localCandidateId)) : undefined;
  const remote = pair ? byId.get(String(pair.remoteCandidateId)) : undefined;
  const localType = str(local?.candidateType);
  const rtt = num(pair?.currentRoundTripTime);

  // Loss over the interval (or overall, on the first snapshot).
  const lost = sum(current, "inbound-rtp", "packetsLost");
  const received = sum(current, "inbound-rtp", "packetsReceived");
  const prevLost = previous ? sum(previous, "inbound-rtp", "packetsLost") : 0;
  const prevReceived = previous ? sum(previous, "inbound-rtp", "packetsReceived") : 0;
  const dLost = Math.max(0, lost - prevLost);
  const dReceived = Math.max(0, received - prevReceived);
  const lossPercent = dLost + dReceived > 0 ? (100 * dLost) / (dLost + dReceived) : received > 0 ? 0 : null;

  const jitters = current.filter((s) => s.type === "inbound-rtp").map((s) => num(s.jitter)).filter((j): j is number => j !== null);
  const jitterMs = jitters.length ? Math.max(...jitters) * 1000 : null;

  const bytesSent = num(pair?.bytesSent) ?? 0;
  const bytesReceived = num(pair?.bytesReceived) ?? 0;
  let sendKbps: number | null = null;
  let receiveKbps: number | null = null;
  const prevPair = previous ? selectedCandidatePair(previous) : null;
  if (pair && prevPair && prevPair.id === pair.id) {
    const dt = ((num(pair.timestamp) ?? 0) - (num(prevPair.timestamp) ?? 0)) / 1000;
    if (dt > 0) {
      sendKbps = (8 * Math.max(0, bytesSent - (num(prevPair.bytesSent) ?? 0))) / 1000 / dt;
      receiveKbps = (8 * Math.max(0, bytesReceived - (num(prevPair.bytesReceived) ?? 0))) / 1000 / dt;
    }
  }

  const video = current.find((s) => s.type === "inbound-rtp" && s.kind === "video" && num(s.frameWidth));
  return {
    rttMs: rtt === null ? null : rtt * 1000,
    lossPercent,
    jitterMs,
    sendKbps,
    receiveKbps,
    bytesSent,
    bytesReceived,
    route: localType === null ? null : localType === "relay" ? "relay" : "direct",
    localCandidateType: localType,
    remoteCandidateType: str(remote?.candidateType),
    protocol: str(local?.protocol),
    relayProtocol: str(local?.relayProtocol),
    videoReceive: video
      ? { width: num(video.frameWidth) ?? 0, height: num(video.frameHeight) ?? 0, fps: num(video.framesPerSecond) }
      : null,
  };
}

/**
 * Good below 150 ms round trip, 2% loss and 30 ms jitter; poor from 400 ms, 10% loss or 100 ms jitter
 * (where speech starts to break up); fair between. Unknown until the round trip or loss is measured.
 * A connection that receives nothing at all for an interval in which it should (receiveKbps 0 while
 * `expectMedia`) is poor.
 */
export function classifyQuality(
  s: Pick<CallStatsSummary, "rttMs" | "lossPercent" | "jitterMs" | "receiveKbps">,
  { expectMedia = false }: { expectMedia?: boolean } = {},
): Quality {
  if (s.rttMs === null && s.lossPercent === null) return "unknown";
  const rtt = s.rttMs ?? 0;
  const loss = s.lossPercent ?? 0;
  const jitter = s.jitterMs ?? 0;
  if (expectMedia && s.receiveKbps !== null && s.receiveKbps < 1) return "poor";
  if (rtt >= 400 || loss >= 10 || jitter >= 100) return "poor";
  if (rtt >= 150 || loss >= 2 || jitter >= 30) return "fair";
  return "good";
}

export function qualityLabel(q: Quality): string {
  return q === "good" ? "Good connection" : q === "fair" ? "Fair connection" : q === "poor" ? "Poor connection" : "Measuring…";
}

export function routeLabel(s: Pick<CallStatsSummary, "route" | "relayProtocol">): string {
  if (s.route === "relay") return `Relayed through the TURN server${s.relayProtocol ? ` (${s.relayProtocol.toUpperCase()})` : ""}`;
  if (s.route === "direct") return "Direct (peer to peer)";
  return "Not connected yet";
}
