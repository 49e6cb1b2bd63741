import { describe, expect, it } from "vitest";
import { highlightParts, mergeHits, normalizeForSearch, searchLocally, searchScopeNote, searchTerms, type SearchableMessage } from "./search";
import { lastSeenLabel, normalizePresence, presenceLabel } from "./presence";

const msg = (eventId: string, body: string, ts: number): SearchableMessage => ({
  eventId,
  roomId: "!r:x",
  sender: "@a:x",
  senderName: "a",
  ts,
  body,
});

describe("local search", () => {
  it("normalizes case and accents", () => {
    expect(normalizeForSearch("Café ÉCLAIR")).toBe("cafe eclair");
    expect(searchTerms("  Hello   World ")).toEqual(["hello", "world"]);
  });

  it("finds messages holding every term, newest first", () => {
    const messages = [msg("$1", "Lunch at the café?", 1), msg("$2", "no lunch today", 3), msg("$3", "Dinner", 2)];
    expect(searchLocally(messages, "lunch").map((h) => h.eventId)).toEqual(["$2", "$1"]);
    expect(searchLocally(messages, "cafe lunch").map((h) => h.eventId)).toEqual(["$1"]);
    expect(searchLocally(messages, "breakfast")).toEqual([]);
    expect(searchLocally(messages, "   ")).toEqual([]);
    const [hit] = searchLocally(messages, "LUNCH", 1);
    expect(hit.source).toBe("local");
    expect(highlightParts(hit)).toEqual(["no ", "lunch", " today"]);
  });

  it("merges server and local hits without duplicates", () => {
    const a = { ...msg("$1", "x", 1), start: 0, length: 1, source: "server" as const };
    const b = { ...msg("$2", "x", 2), start: 0, length: 1, source: "local" as const };
    expect(mergeHits([a], [b, a]).map((h) => h.eventId)).toEqual(["$2", "$1"]);
  });

  it("says that encrypted conversations were searched on this device only", () => {
    expect(searchScopeNote(0, 10)).toBeNull();
    expect(searchScopeNote(1, 1)).toMatch(/1 encrypted conversation: it was searched on this device only.*1 message it has/);
    expect(searchScopeNote(2, 40)).toMatch(/2 encrypted conversations: they were searched .* 40 messages/);
  });
});

describe("presence and members", () => {
  it("normalizes presence and labels it", () => {
    expect(normalizePresence("online")).toBe("online");
    expect(normalizePresence("busy")).toBe("offline");
    expect(normalizePresence(undefined)).toBe("offline");
    expect(presenceLabel("unavailable")).toBe("Away");
    expect(presenceLabel("offline", 2 * 3600_000)).toBe("Offline, last seen 2 h ago");
    expect(lastSeenLabel(null)).toBe("Never seen");
    expect(lastSeenLabel(1000, 1000 + 5 * 60_000)).toBe("Last seen 5 min ago");
  });
});
