/** Content of the events that relate to others (replies, edits, reactions), and reading them back. */
import { markdownToHtml } from "./markdown";

export const HTML_FORMAT = "org.matrix.custom.html";

/** What the composer sends: text, or an emote ("/me waves"). */
export type TextMsgtype = "m.text" | "m.emote";

export interface MessageContent {
  msgtype: TextMsgtype;
  body: string;
  format?: typeof HTML_FORMAT;
  formatted_body?: string;
  "m.mentions"?: { user_ids?: string[] };
  "m.relates_to"?: Record<string, unknown>;
  "m.new_content"?: MessageContent;
  [key: string]: unknown;
}

/**
 * An m.text (or m.emote) message: the Markdown source as `body`, HTML only when there is formatting.
 * Async: the Markdown renderer is loaded on first use.
 */
export async function textContent(text: string, msgtype: TextMsgtype = "m.text"): Promise<MessageContent> {
  const html = await markdownToHtml(text);
  return html === null ? { msgtype, body: text } : { msgtype, body: text, format: HTML_FORMAT, formatted_body: html };
}

/**
 * A rich reply (no fallback: optional since Matrix v1.13). The replied-to sender is mentioned so they
 * are notified, unless it is ourselves.
 */
export async function replyContent(
  text: string,
  replyTo: { eventId: string; sender: string },
  myUserId: string,
  msgtype: TextMsgtype = "m.text",
): Promise<MessageContent> {
  return {
    ...(await textContent(text, msgtype)),
    "m.mentions": { user_ids: replyTo.sender === myUserId ? [] : [replyTo.sender] },
    "m.relates_to": { "m.in_reply_to": { event_id: replyTo.eventId } },
  };
}

/** An edit: `m.new_content` is what clients show; the outer body ("* ...") is for clients without edits. */
export async function editContent(originalEventId: string, text: string, msgtype: TextMsgtype = "m.text"): Promise<MessageContent> {
  const next = await textContent(text, msgtype);
  return {
    msgtype,
    body: `* ${next.body}`,
    ...(next.formatted_body ? { format: HTML_FORMAT, formatted_body: `* ${next.formatted_body}` } : {}),
    "m.new_content": { ...next, "m.mentions": {} },
    "m.mentions": {},
    "m.relates_to": { rel_type: "m.replace", event_id: originalEventId },
  };
}

/**
 * A message in a thread (spec "Threading"): `m.thread` to the root, plus the rich-reply fallback for
 * clients without threads: `m.in_reply_to` the newest message of the thread with `is_falling_back`.
 * A real reply inside the thread names its target instead, without the flag, and mentions its sender.
 */
export async function threadContent(
  text: string,
  thread: { rootId: string; latestEventId: string; replyTo?: { eventId: string; sender: string } },
  myUserId: string,
  msgtype: TextMsgtype = "m.text",
): Promise<MessageContent> {
  const replyTo = thread.replyTo;
  return {
    ...(await textContent(text, msgtype)),
    "m.mentions": { user_ids: replyTo && replyTo.sender !== myUserId ? [replyTo.sender] : [] },
    "m.relates_to": {
      rel_type: "m.thread",
      event_id: thread.rootId,
      is_falling_back: !replyTo,
      "m.in_reply_to": { event_id: replyTo?.eventId ?? thread.latestEventId },
    },
  };
}

export function reactionContent(eventId: string, key: string) {
  return { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } };
}

/** The event a message replies to, if any. */
export function replyTarget(content: Record<string, unknown>): string | null {
  const relates = content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: unknown } } | undefined;
  const id = relates?.["m.in_reply_to"]?.event_id;
  return typeof id === "string" ? id : null;
}

/** Removes an old-style reply fallback ("> " lines at the start of the body) as the spec asks. */
export function stripReplyFallback(body: string): string {
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i].startsWith("> ")) i++;
  if (i === 0) return body;
  if (i < lines.length && lines[i] === "") i++; // the blank line fallbacks put after the quote
  return lines.slice(i).join("\n");
}

/** Same for `formatted_body`: a leading <mx-reply> element goes entirely. */
export function stripHtmlReplyFallback(html: string): string {
  return html.replace(/^\s*<mx-reply>[\s\S]*?<\/mx-reply>/i, "");
}

export interface Reaction {
  key: string;
  sender: string;
  eventId: string;
}

export interface ReactionSummary {
  key: string;
  count: number;
  /** Our own reaction event with this key (to redact it when the chip is clicked again). */
  ownEventId: string | null;
  senders: string[];
  /** Display names of `senders`, filled in by the SDK side. */
  names?: string[];
}

/** Groups reactions by key in order of first use; a user counts once per key (duplicates are ignored). */
export function aggregateReactions(reactions: Reaction[], myUserId: string): ReactionSummary[] {
  const byKey = new Map<string, ReactionSummary>();
  for (const r of reactions) {
    if (!r.key) continue;
    let summary = byKey.get(r.key);
    if (!summary) byKey.set(r.key, (summary = { key: r.key, count: 0, ownEventId: null, senders: [] }));
    if (summary.senders.includes(r.sender)) continue;
    summary.senders.push(r.sender);
    summary.count++;
    if (r.sender === myUserId) summary.ownEventId = r.eventId;
  }
  return [...byKey.values()];
}

/** "Alice reacted with 👍", "Alice, Bob and 3 others reacted with 👍". */
export function reactedLabel(names: string[], key: string): string {
  return `${listNames(names)} reacted with ${key}`;
}

export function typingLabel(names: string[]): string | null {
  if (names.length === 0) return null;
  return `${listNames(names)} ${names.length === 1 ? "is" : "are"} typing…`;
}

function listNames(names: string[]): string {
  if (names.length <= 1) return names[0] ?? "";
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return `${names.slice(0, 2).join(", ")} and ${names.length - 2} others`;
}
