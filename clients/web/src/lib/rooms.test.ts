import { describe, expect, it } from "vitest";
import { filterRooms, initials, previewText, sortRooms, splitInvites, unreadLabel, type RoomSummary } from "./rooms";

function room(roomId: string, lastActivityTs: number, extra: Partial<RoomSummary> = {}): RoomSummary {
  return {
    roomId,
    name: roomId,
    avatarId: roomId,
    isDirect: false,
    membership: "join",
    encrypted: true,
    lastActivityTs,
    lastMessagePreview: "",
    unread: 0,
    highlight: 0,
    ...extra,
  };
}

describe("room list", () => {
  it("sorts by latest activity, then name", () => {
    const sorted = sortRooms([room("b", 1), room("c", 5), room("a", 1)]);
    expect(sorted.map((r) => r.roomId)).toEqual(["c", "a", "b"]);
  });

  it("separates invitations from joined rooms", () => {
    const { invites, joined } = splitInvites([room("a", 1), room("i", 2, { membership: "invite" })]);
    expect(invites.map((r) => r.roomId)).toEqual(["i"]);
    expect(joined.map((r) => r.roomId)).toEqual(["a"]);
  });

  it("filters by name, case-insensitively", () => {
    const rooms = [room("x", 1, { name: "Family" }), room("y", 1, { name: "Work" })];
    expect(filterRooms(rooms, "fam").map((r) => r.roomId)).toEqual(["x"]);
    expect(filterRooms(rooms, "  ")).toHaveLength(2);
  });
});

describe("helpers", () => {
  it("previews one line, shortened", () => {
    expect(previewText("Bob", "hello\n  there")).toBe("Bob: hello there");
    expect(previewText(null, "x".repeat(100), 10)).toBe("xxxxxxxxx…");
  });
  it("caps unread counts", () => {
    expect(unreadLabel(5)).toBe("5");
    expect(unreadLabel(120)).toBe("99+");
  });
  it("makes initials", () => {
    expect(initials("Alice Smith")).toBe("AS");
    expect(initials("@bob:example.org")).toBe("B");
    expect(initials("")).toBe("?");
  });
});
