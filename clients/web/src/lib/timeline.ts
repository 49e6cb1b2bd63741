/** Turns a room's events (already simplified to plain data) into what the timeline draws. */
import type { Attachment } from "./attachments";
import type { ReactionSummary } from "./relations";

export type SendState = "sending" | "sent" | "failed";

export interface TimelineMessage {
  eventId: string;
  sender: string;
  senderName: string;
  ts: number;
  body: string;
  /** Set when the event could not be decrypted: why, in words for a person. */
  undecryptable?: string;
  /** Set for a notice about the room (join, name change...), drawn centered without a sender. */
  notice?: boolean;
  sendState: SendState;
  own: boolean;
  /** Sanitizable HTML (org.matrix.custom.html), reply fallback already removed. */
  html?: string;
  /** The event this one replies to. */
  replyTo?: string;
  /** Shown with "(edited)": the text is that of the latest edit. */
  edited?: boolean;
  /** A redacted message: drawn as "Message deleted" in the sender's place. */
  deleted?: boolean;
  /** Our own text message that can be edited (not deleted, not still sending). */
  editable?: boolean;
  reactions?: ReactionSummary[];
  /** People (other than us) whose latest read receipt is at this message. */
  readBy?: { userId: string; name: string }[];
  /** An image or file (m.image, m.file...), drawn by components/Attachment.tsx. */
  attachment?: Attachment;
  /** m.emote ("* Alice waves") or m.notice (sent by bots): drawn differently from m.text. */
  variant?: "emote" | "notice";
  /** Set on a thread root: its number of replies. */
  thread?: { count: number };
  /** Set on a message in a thread: the thread's root. */
  threadRoot?: string;
}

/** The latest of our own messages that can be edited (Up arrow in an empty composer). */
export function lastEditable(messages: TimelineMessage[]): TimelineMessage | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].editable) return messages[i];
  return undefined;
}

export type TimelineRow =
  | { kind: "day"; key: string; label: string }
  | { kind: "message"; key: string; message: TimelineMessage; firstInGroup: boolean; lastInGroup: boolean };

/** Messages by the same sender closer than this are drawn as one group (one name, one avatar). */
export const GROUP_GAP_MS = 5 * 60 * 1000;

export function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(ts: number, now: number = Date.now()): string {
  if (dayKey(ts) === dayKey(now)) return "Today";
  if (dayKey(ts) === dayKey(now - 24 * 3600 * 1000)) return "Yesterday";
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Date(ts).toLocaleDateString(undefined, {
    weekday: "long",
    day: "numeric",
    month: "long",
    ...(sameYear ? {} : { year: "numeric" }),
  });
}

export function timeLabel(ts: number): string {
  return new Date(ts).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** Day separators before each new day; a message starts a group unless it follows the same sender closely. */
export function buildRows(messages: TimelineMessage[], now: number = Date.now()): TimelineRow[] {
  const rows: TimelineRow[] = [];
  let previous: TimelineMessage | undefined;
  for (const message of messages) {
    const newDay = !previous || dayKey(previous.ts) !== dayKey(message.ts);
    if (newDay) rows.push({ kind: "day", key: `day-${dayKey(message.ts)}`, label: dayLabel(message.ts, now) });
    const firstInGroup =
      newDay ||
      !previous ||
      previous.notice === true ||
      message.notice === true ||
      previous.sender !== message.sender ||
      message.ts - previous.ts > GROUP_GAP_MS;
    const last = rows[rows.length - 1];
    if (firstInGroup && last?.kind === "message") last.lastInGroup = true;
    rows.push({ kind: "message", key: message.eventId, message, firstInGroup, lastInGroup: false });
    previous = message;
  }
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const next = rows[i + 1];
    if (row.kind === "message" && (!next || next.kind === "day")) row.lastInGroup = true;
  }
  return rows;
}
