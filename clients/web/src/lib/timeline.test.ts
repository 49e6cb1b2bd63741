import { describe, expect, it } from "vitest";
import { buildRows, dayLabel, GROUP_GAP_MS, type TimelineMessage } from "./timeline";

const base = new Date(2026, 10, 24, 10, 0, 0).getTime();
let n = 0;
function msg(sender: string, ts: number, extra: Partial<TimelineMessage> = {}): TimelineMessage {
  return { eventId: `$${n++}`, sender, senderName: sender, ts, body: "hi", sendState: "sent", own: false, ...extra };
}

describe("buildRows", () => {
  it("puts a day separator before the first message of each day", () => {
    const rows = buildRows([msg("a", base), msg("a", base + 60_000), msg("a", base + 24 * 3600_000)], base);
    expect(rows.map((r) => r.kind)).toEqual(["day", "message", "message", "day", "message"]);
    expect(rows[0]).toMatchObject({ label: "Today" });
  });

  it("groups consecutive messages of one sender within the gap", () => {
    const rows = buildRows(
      [msg("a", base), msg("a", base + 1000), msg("b", base + 2000), msg("b", base + 2000 + GROUP_GAP_MS + 1)],
      base,
    ).filter((r) => r.kind === "message");
    expect(rows.map((r) => r.kind === "message" && r.firstInGroup)).toEqual([true, false, true, true]);
    expect(rows.map((r) => r.kind === "message" && r.lastInGroup)).toEqual([false, true, true, true]);
  });

  it("breaks groups around notices", () => {
    const rows = buildRows([msg("a", base), msg("a", base + 1, { notice: true }), msg("a", base + 2)], base).filter(
      (r) => r.kind === "message",
    );
    expect(rows.map((r) => r.kind === "message" && r.firstInGroup)).toEqual([true, true, true]);
  });

  it("is empty for no messages", () => {
    expect(buildRows([])).toEqual([]);
  });
});

describe("dayLabel", () => {
  it("says Today and Yesterday", () => {
    expect(dayLabel(base, base)).toBe("Today");
    expect(dayLabel(base - 24 * 3600_000, base)).toBe("Yesterday");
    expect(dayLabel(base - 3 * 24 * 3600_000, base)).not.toMatch(/Today|Yesterday/);
  });
});
