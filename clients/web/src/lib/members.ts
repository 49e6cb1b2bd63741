/**
 * The member panel's plain helpers: roles from power levels, who may do what to whom (the spec's
 * authorization rules for kicks, bans and power level changes), grouping, sorting, filtering and the
 * lazily growing slice of a big list.
 */
import type { MemberSummary, Presence } from "./presence";

export type Role = "admin" | "moderator" | "user";

export const ROLE_LEVELS: Record<Role, number> = { admin: 100, moderator: 50, user: 0 };
export const ROLE_LABELS: Record<Role, string> = { admin: "Admin", moderator: "Moderator", user: "User" };
const ROLES: Role[] = ["user", "moderator", "admin"];

/** The badge next to a name: "Admin" from 100, "Moderator" from 50, none below. */
export function roleBadge(level: number): "Admin" | "Moderator" | null {
  if (level >= ROLE_LEVELS.admin) return "Admin";
  if (level >= ROLE_LEVELS.moderator) return "Moderator";
  return null;
}

/** The role whose level is exactly `level`, or null for a custom level (e.g. 75). */
export function exactRole(level: number): Role | null {
  return ROLES.find((r) => ROLE_LEVELS[r] === level) ?? null;
}

/** "Admin", "Moderator", "User", or "Custom (power level 75)". */
export function levelDescription(level: number): string {
  const role = exactRole(level);
  return role ? ROLE_LABELS[role] : `Custom (power level ${level})`;
}

/** The levels a room's `m.room.power_levels` asks for, with the spec's defaults. */
export interface RequiredLevels {
  kick: number;
  ban: number;
  /** To send `m.room.power_levels` itself (its `events` entry, else `state_default`). */
  powerLevels: number;
}

export function requiredLevels(content: Record<string, unknown> | undefined): RequiredLevels {
  const num = (v: unknown, fallback: number) => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
  const events = (content?.events ?? {}) as Record<string, unknown>;
  return {
    kick: num(content?.kick, 50),
    ban: num(content?.ban, 50),
    powerLevels: num(events["m.room.power_levels"], num(content?.state_default, 50)),
  };
}

export interface MemberPermissions {
  kick: boolean;
  ban: boolean;
  changeRole: boolean;
  /** The roles we may give them (never above our own level). */
  roles: Role[];
}

/**
 * What we may do to another member. Kicking or banning needs the room's level for it AND a level
 * above theirs; changing their power level needs the level to send `m.room.power_levels`, a level
 * above their current one, and a new level not above ours. Nothing is offered on ourselves.
 */
export function memberPermissions(args: {
  isMe: boolean;
  myLevel: number;
  theirLevel: number;
  membership: string;
  required: RequiredLevels;
}): MemberPermissions {
  const { isMe, myLevel, theirLevel, membership, required } = args;
  const above = !isMe && myLevel > theirLevel;
  const present = membership === "join" || membership === "invite";
  const changeRole = above && present && myLevel >= required.powerLevels;
  return {
    kick: above && present && myLevel >= required.kick,
    ban: above && membership !== "ban" && myLevel >= required.ban,
    changeRole,
    roles: changeRole ? ROLES.filter((r) => ROLE_LEVELS[r] <= myLevel) : [],
  };
}

const PRESENCE_ORDER: Record<Presence, number> = { online: 0, unavailable: 1, offline: 2 };
const byName = (a: MemberSummary, b: MemberSummary) =>
  a.name.localeCompare(b.name, undefined, { sensitivity: "base" }) || a.userId.localeCompare(b.userId);

export interface MemberGroups {
  joined: MemberSummary[];
  invited: MemberSummary[];
}

/** Whether the filter text is in the name or the user ID (case-insensitive; empty matches all). */
export function matchesMemberFilter(member: MemberSummary, query: string): boolean {
  const q = query.trim().toLowerCase();
  return !q || member.name.toLowerCase().includes(q) || member.userId.toLowerCase().includes(q);
}

/**
 * Joined members (online first, then away, then offline; by name within each) and invited ones (by
 * name); everyone else (left, banned) is left out.
 */
export function groupMembers(members: MemberSummary[], query = ""): MemberGroups {
  const shown = members.filter((m) => matchesMemberFilter(m, query));
  return {
    joined: shown
      .filter((m) => m.membership === "join")
      .sort((a, b) => PRESENCE_ORDER[a.presence] - PRESENCE_ORDER[b.presence] || byName(a, b)),
    invited: shown.filter((m) => m.membership === "invite").sort(byName),
  };
}

/** How many rows are drawn at first and added each time the end of the list scrolls into view. */
export const MEMBER_PAGE = 50;

/** The first `limit` rows (joined before invited) and how many are not drawn yet. */
export function firstRows(groups: MemberGroups, limit: number): MemberGroups & { notShown: number } {
  const joined = groups.joined.slice(0, limit);
  const invited = groups.invited.slice(0, Math.max(0, limit - joined.length));
  return { joined, invited, notShown: groups.joined.length + groups.invited.length - joined.length - invited.length };
}

/** What to tell someone who was removed or banned by someone else; null when they left by themselves. */
export function removalNotice(args: {
  membership: string;
  previous: string | undefined;
  byMe: boolean;
  actorName: string;
  roomName: string;
  reason?: unknown;
}): string | null {
  const { membership, previous, byMe, actorName, roomName, reason } = args;
  if (byMe || (membership !== "leave" && membership !== "ban")) return null;
  if (previous !== "join" && previous !== "invite") return null;
  const what =
    membership === "ban"
      ? `${actorName} banned you from ${roomName}.`
      : previous === "invite"
        ? `${actorName} withdrew your invitation to ${roomName}.`
        : `${actorName} removed you from ${roomName}.`;
  const why = typeof reason === "string" && reason.trim() ? ` Reason: ${reason.trim()}` : "";
  return what + why;
}
