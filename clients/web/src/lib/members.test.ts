import { describe, expect, it } from "vitest";
import {
  exactRole,
  firstRows,
  groupMembers,
  levelDescription,
  matchesMemberFilter,
  memberPermissions,
  removalNotice,
  requiredLevels,
  roleBadge,
} from "./members";
import type { MemberSummary } from "./presence";

const m = (userId: string, name: string, presence: MemberSummary["presence"], membership = "join", powerLevel = 0): MemberSummary => ({
  userId,
  name,
  membership,
  presence,
  powerLevel,
  ignored: false,
});

describe("grouping and sorting members", () => {
  const members = [
    m("@zed:hs", "zed", "offline"),
    m("@amy:hs", "Amy", "offline"),
    m("@bea:hs", "bea", "online"),
    m("@cat:hs", "Cat", "unavailable"),
    m("@al:hs", "Al", "online", "join", 100),
    m("@ivy:hs", "Ivy", "online", "invite"),
    m("@dan:hs", "Dan", "offline", "invite"),
    m("@gone:hs", "Gone", "offline", "leave"),
    m("@bad:hs", "Bad", "online", "ban"),
  ];

  it("puts joined members online first, then away, then offline, by name (ignoring case) within each", () => {
    const { joined } = groupMembers(members);
    expect(joined.map((x) => x.userId)).toEqual(["@al:hs", "@bea:hs", "@cat:hs", "@amy:hs", "@zed:hs"]);
  });

  it("lists invited members apart, by name, and leaves out those who left or are banned", () => {
    const { invited, joined } = groupMembers(members);
    expect(invited.map((x) => x.userId)).toEqual(["@dan:hs", "@ivy:hs"]);
    expect([...joined, ...invited].some((x) => x.membership === "leave" || x.membership === "ban")).toBe(false);
  });

  it("breaks ties between equal names by user ID", () => {
    const { joined } = groupMembers([m("@b:hs", "Sam", "online"), m("@a:hs", "Sam", "online")]);
    expect(joined.map((x) => x.userId)).toEqual(["@a:hs", "@b:hs"]);
  });

  it("filters by name or user ID, case-insensitive, in both groups", () => {
    expect(matchesMemberFilter(m("@amy:hs", "Amy Pond", "online"), "  POND ")).toBe(true);
    expect(matchesMemberFilter(m("@amy:hs", "Amy Pond", "online"), "amy:h")).toBe(true);
    expect(matchesMemberFilter(m("@amy:hs", "Amy Pond", "online"), "rory")).toBe(false);
    const { joined, invited } = groupMembers(members, "a");
    expect(joined.map((x) => x.userId)).toEqual(["@al:hs", "@bea:hs", "@cat:hs", "@amy:hs"]);
    expect(invited.map((x) => x.userId)).toEqual(["@dan:hs"]);
  });

  it("draws the first rows, joined before invited, and counts the rest", () => {
    const groups = {
      joined: Array.from({ length: 120 }, (_, i) => m(`@j${i}:hs`, `j${i}`, "online")),
      invited: Array.from({ length: 10 }, (_, i) => m(`@i${i}:hs`, `i${i}`, "offline", "invite")),
    };
    const first = firstRows(groups, 50);
    expect([first.joined.length, first.invited.length, first.notShown]).toEqual([50, 0, 80]);
    const last = firstRows(groups, 125);
    expect([last.joined.length, last.invited.length, last.notShown]).toEqual([120, 5, 5]);
    const all = firstRows(groups, 200);
    expect([all.joined.length, all.invited.length, all.notShown]).toEqual([120, 10, 0]);
  });
});

describe("roles and power levels", () => {
  it("labels levels", () => {
    expect([roleBadge(100), roleBadge(150), roleBadge(50), roleBadge(99), roleBadge(49), roleBadge(0)]).toEqual([
      "Admin",
      "Admin",
      "Moderator",
      "Moderator",
      null,
      null,
    ]);
    expect([exactRole(100), exactRole(50), exactRole(0), exactRole(75)]).toEqual(["admin", "moderator", "user", null]);
    expect(levelDescription(75)).toBe("Custom (power level 75)");
    expect(levelDescription(50)).toBe("Moderator");
  });

  it("reads the required levels with the spec's defaults", () => {
    expect(requiredLevels(undefined)).toEqual({ kick: 50, ban: 50, powerLevels: 50 });
    expect(requiredLevels({ kick: 10, ban: "x", state_default: 75 })).toEqual({ kick: 10, ban: 50, powerLevels: 75 });
    expect(requiredLevels({ state_default: 75, events: { "m.room.power_levels": 100 } }).powerLevels).toBe(100);
  });

  const required = { kick: 50, ban: 50, powerLevels: 100 };

  it("lets an admin remove, ban and promote a user, up to admin", () => {
    const p = memberPermissions({ isMe: false, myLevel: 100, theirLevel: 0, membership: "join", required });
    expect(p).toEqual({ kick: true, ban: true, changeRole: true, roles: ["user", "moderator", "admin"] });
  });

  it("lets a moderator remove and ban users but not change levels when that needs 100", () => {
    const p = memberPermissions({ isMe: false, myLevel: 50, theirLevel: 0, membership: "join", required });
    expect(p).toEqual({ kick: true, ban: true, changeRole: false, roles: [] });
  });

  it("never offers roles above our own level", () => {
    const p = memberPermissions({ isMe: false, myLevel: 60, theirLevel: 0, membership: "join", required: { ...required, powerLevels: 50 } });
    expect(p.roles).toEqual(["user", "moderator"]);
  });

  it("offers nothing on someone at or above our level, on ourselves, or to a plain user", () => {
    const none = { kick: false, ban: false, changeRole: false, roles: [] };
    expect(memberPermissions({ isMe: false, myLevel: 100, theirLevel: 100, membership: "join", required })).toEqual(none);
    expect(memberPermissions({ isMe: true, myLevel: 100, theirLevel: 100, membership: "join", required })).toEqual(none);
    expect(memberPermissions({ isMe: false, myLevel: 0, theirLevel: 0, membership: "join", required })).toEqual(none);
  });

  it("can revoke an invitation; cannot kick someone who left, but can ban them", () => {
    expect(memberPermissions({ isMe: false, myLevel: 100, theirLevel: 0, membership: "invite", required }).kick).toBe(true);
    const left = memberPermissions({ isMe: false, myLevel: 100, theirLevel: 0, membership: "leave", required });
    expect([left.kick, left.ban, left.changeRole]).toEqual([false, true, false]);
    expect(memberPermissions({ isMe: false, myLevel: 100, theirLevel: 0, membership: "ban", required }).ban).toBe(false);
  });
});

describe("being removed", () => {
  const base = { byMe: false, actorName: "Alice", roomName: "Book club" };
  it("says who removed or banned us, and why", () => {
    expect(removalNotice({ ...base, membership: "leave", previous: "join", reason: " spam " })).toBe(
      "Alice removed you from Book club. Reason: spam",
    );
    expect(removalNotice({ ...base, membership: "ban", previous: "join" })).toBe("Alice banned you from Book club.");
    expect(removalNotice({ ...base, membership: "leave", previous: "invite" })).toBe("Alice withdrew your invitation to Book club.");
  });

  it("says nothing when we left, declined, or nothing changed", () => {
    expect(removalNotice({ ...base, byMe: true, membership: "leave", previous: "join" })).toBeNull();
    expect(removalNotice({ ...base, membership: "join", previous: "invite" })).toBeNull();
    expect(removalNotice({ ...base, membership: "leave", previous: "leave" })).toBeNull();
  });
});
