import { describe, expect, it } from "vitest";
import { callHistoryText, formatDuration, inviteIsVideo, isCallEventType, summarizeCalls, type CallEventInfo } from "./call-history";

const A = "@alice:hs";
const B = "@bob:hs";
const VIDEO_SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
const AUDIO_SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
const names = (id: string) => (id === A ? "Alice" : id === B ? "Bob" : id);

const invite = (ts: number, sdp = AUDIO_SDP, id = "c1", sender = A): CallEventInfo => ({
  type: "m.call.invite", sender, ts, content: { call_id: id, lifetime: 60_000, offer: { sdp } },
});
const ev = (type: string, sender: string, ts: number, extra: Record<string, unknown> = {}, id = "c1"): CallEventInfo => ({
  type, sender, ts, content: { call_id: id, ...extra },
});

describe("summarizeCalls", () => {
  it("an answered call that was hung up: ended, with its duration from the answer", () => {
    const calls = summarizeCalls(
      [invite(1000, VIDEO_SDP), ev("m.call.candidates", A, 1100), ev("m.call.answer", B, 5000), ev("m.call.hangup", A, 80_000, { reason: "user_hangup" })],
      100_000,
    );
    const c = calls.get("c1")!;
    expect(c).toMatchObject({ caller: A, video: true, outcome: "ended", durationSeconds: 75, endedBy: A });
    expect(callHistoryText(c, A, names)).toBe("Video call you started · ended after 1:15");
    expect(callHistoryText(c, B, names)).toBe("Video call from Alice · ended after 1:15");
  });

  it("a rejected call is declined; a callee's hang-up before answering too", () => {
    const rejected = summarizeCalls([invite(1000), ev("m.call.reject", B, 3000)], 10_000).get("c1")!;
    expect(rejected.outcome).toBe("declined");
    expect(callHistoryText(rejected, B, names)).toBe("You declined a voice call from Alice");
    expect(callHistoryText(rejected, A, names)).toBe("Voice call declined by Bob");
    const hungUp = summarizeCalls([invite(1000), ev("m.call.hangup", B, 3000)], 10_000).get("c1")!;
    expect(hungUp.outcome).toBe("declined");
  });

  it("an invite that timed out or that the caller cancelled is missed", () => {
    const timedOut = summarizeCalls([invite(1000), ev("m.call.hangup", A, 61_000, { reason: "invite_timeout" })], 70_000).get("c1")!;
    expect(timedOut.outcome).toBe("missed");
    expect(callHistoryText(timedOut, B, names)).toBe("Missed voice call from Alice");
    expect(callHistoryText(timedOut, A, names)).toBe("Voice call not answered");
    // No hang-up at all (the caller's client vanished): missed once the lifetime is over, ringing before.
    expect(summarizeCalls([invite(1000)], 30_000).get("c1")!.outcome).toBe("ringing");
    expect(summarizeCalls([invite(1000)], 61_001).get("c1")!.outcome).toBe("missed");
  });

  it("an answered call still going is ongoing; ICE failure is a dropped call", () => {
    const ongoing = summarizeCalls([invite(1000), ev("m.call.answer", B, 2000)], 500_000).get("c1")!;
    expect(ongoing.outcome).toBe("ongoing");
    expect(callHistoryText(ongoing, B, names)).toBe("Alice started a voice call · in progress");
    const failed = summarizeCalls([invite(1000), ev("m.call.answer", B, 2000), ev("m.call.hangup", B, 12_000, { reason: "ice_failed" })], 20_000);
    expect(failed.get("c1")).toMatchObject({ outcome: "failed", durationSeconds: 10 });
  });

  it("glare: the replaced call disappears, the other one stays; later events of an ended call change nothing", () => {
    const calls = summarizeCalls(
      [
        invite(1000, AUDIO_SDP, "a-call", A),
        invite(1001, AUDIO_SDP, "b-call", B),
        ev("m.call.hangup", A, 1500, { reason: "replaced" }, "a-call"),
        ev("m.call.answer", A, 1600, {}, "b-call"),
        ev("m.call.hangup", B, 11_600, {}, "b-call"),
        ev("m.call.answer", A, 12_000, {}, "b-call"),
        ev("m.call.reject", A, 12_000, {}, "b-call"),
      ],
      20_000,
    );
    expect([...calls.keys()]).toEqual(["b-call"]);
    expect(calls.get("b-call")).toMatchObject({ caller: B, outcome: "ended", durationSeconds: 10 });
  });

  it("ignores events without a call ID and answers to unknown calls", () => {
    const calls = summarizeCalls([{ type: "m.call.invite", sender: A, ts: 1, content: {} }, ev("m.call.answer", B, 2, {}, "zz")], 5);
    expect(calls.size).toBe(0);
  });
});

describe("helpers", () => {
  it("formats durations", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(75)).toBe("1:15");
    expect(formatDuration(3725)).toBe("1:02:05");
  });
  it("tells video invites and call event types", () => {
    expect(inviteIsVideo({ offer: { sdp: VIDEO_SDP } })).toBe(true);
    expect(inviteIsVideo({ offer: { sdp: AUDIO_SDP } })).toBe(false);
    expect(inviteIsVideo({})).toBe(false);
    expect(isCallEventType("m.call.select_answer")).toBe(true);
    expect(isCallEventType("m.room.message")).toBe(false);
  });
});
