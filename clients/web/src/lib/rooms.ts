/** Room list entries as plain data, and their order. */

export interface RoomSummary {
  roomId: string;
  name: string;
  /** Whose colour and initials the avatar shows: the other person in a DM, else the room. */
  avatarId: string;
  isDirect: boolean;
  /** "join" for rooms we are in, "invite" for pending invitations. */
  membership: "join" | "invite";
  encrypted: boolean;
  lastActivityTs: number;
  lastMessagePreview: string;
  unread: number;
  highlight: number;
  /** For invitations: who invited us. */
  inviter?: string;
}

/** Most recent activity first; ties by name so the order is stable. */
export function sortRooms(rooms: RoomSummary[]): RoomSummary[] {
  return [...rooms].sort((a, b) => b.lastActivityTs - a.lastActivityTs || a.name.localeCompare(b.name));
}

export function splitInvites(rooms: RoomSummary[]): { invites: RoomSummary[]; joined: RoomSummary[] } {
  const sorted = sortRooms(rooms);
  return {
    invites: sorted.filter((r) => r.membership === "invite"),
    joined: sorted.filter((r) => r.membership === "join"),
  };
}

export function filterRooms(rooms: RoomSummary[], query: string): RoomSummary[] {
  const q = query.trim().toLowerCase();
  return q ? rooms.filter((r) => r.name.toLowerCase().includes(q)) : rooms;
}

export function unreadLabel(count: number): string {
  return count > 99 ? "99+" : String(count);
}

/** One line of text for a message, for the room list preview. */
export function previewText(senderName: string | null, body: string, maxLength = 80): string {
  const oneLine = body.replace(/\s+/g, " ").trim();
  const text = senderName ? `${senderName}: ${oneLine}` : oneLine;
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

/** Initials for an avatar: "Alice Smith" -> "AS", "@bob:example.org" -> "B". */
export function initials(name: string): string {
  const clean = name.replace(/^[@#!+]/, "").split(":")[0];
  const words = clean.split(/[\s._-]+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[1][0] : (words[0] ?? "?")[0];
  return letters.toUpperCase();
}

/** A stable hue per id, so a person's avatar keeps its colour. */
export function hueFor(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) | 0;
  return Math.abs(hash) % 360;
}
