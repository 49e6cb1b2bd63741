/** Presence and member list helpers (plain data). */

export type Presence = "online" | "unavailable" | "offline";

export function normalizePresence(value: string | undefined | null): Presence {
  return value === "online" || value === "unavailable" ? value : "offline";
}

export function presenceLabel(presence: Presence, lastActiveAgoMs?: number): string {
  if (presence === "online") return "Online";
  if (presence === "unavailable") return "Away";
  if (lastActiveAgoMs && lastActiveAgoMs > 0) return `Offline, last seen ${agoLabel(lastActiveAgoMs)}`;
  return "Offline";
}

export function agoLabel(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  return `${days} day${days === 1 ? "" : "s"} ago`;
}

export interface MemberSummary {
  userId: string;
  name: string;
  membership: string;
  presence: Presence;
  lastActiveAgo?: number;
  powerLevel: number;
  ignored: boolean;
}

/** "Last seen" for a device. */
export function lastSeenLabel(ts: number | undefined | null, now = Date.now()): string {
  if (!ts) return "Never seen";
  return `Last seen ${agoLabel(Math.max(0, now - ts))}`;
}
