/** From SDK objects to the plain data in src/lib (room summaries, timeline messages). */
import {
  EventStatus,
  EventType,
  KnownMembership,
  NotificationCountType,
  RelationType,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from "matrix-js-sdk";
import { attachmentOf } from "@/lib/attachments";
import { callHistoryText, isCallEventType, summarizeCalls, type CallEventInfo, type CallSummary } from "@/lib/call-history";
import { describeDecryptionFailure } from "@/lib/errors";
import {
  aggregateReactions,
  HTML_FORMAT,
  replyTarget,
  stripHtmlReplyFallback,
  stripReplyFallback,
  type ReactionSummary,
} from "@/lib/relations";
import { emoteText } from "@/lib/commands";
import { previewText, type RoomSummary } from "@/lib/rooms";
import { threadOf, threadReplyCount } from "@/lib/threads";
import type { SendState, TimelineMessage } from "@/lib/timeline";

export function sendStateOf(event: MatrixEvent): SendState {
  switch (event.status) {
    case null:
    case EventStatus.SENT:
      return "sent";
    case EventStatus.NOT_SENT:
    case EventStatus.CANCELLED:
      return "failed";
    default:
      return "sending";
  }
}

function memberName(room: Room, userId: string): string {
  return room.getMember(userId)?.name ?? userId;
}

function membershipNotice(event: MatrixEvent, room: Room): string | null {
  const content = event.getContent();
  const prev = event.getPrevContent();
  const target = content.displayname ?? memberName(room, event.getStateKey() ?? "");
  const actor = memberName(room, event.getSender() ?? "");
  switch (content.membership) {
    case KnownMembership.Join:
      if (prev.membership === KnownMembership.Join) return null; // profile changes are noise here
      return `${target} joined`;
    case KnownMembership.Invite:
      return `${actor} invited ${target}`;
    case KnownMembership.Leave:
      if (prev.membership === KnownMembership.Invite && event.getSender() === event.getStateKey()) {
        return `${target} declined the invitation`;
      }
      return event.getSender() === event.getStateKey() ? `${target} left` : `${actor} removed ${target}`;
    case KnownMembership.Ban:
      return `${actor} banned ${target}`;
    default:
      return null;
  }
}

interface Shown {
  body: string;
  notice?: boolean;
  undecryptable?: string;
  html?: string;
  deleted?: boolean;
  variant?: "emote" | "notice";
}

const MESSAGE_TYPES: string[] = [EventType.RoomMessage, EventType.RoomMessageEncrypted, EventType.Sticker];

/** Events that only change another one (edits, reactions) are drawn on their target, not on their own. */
function isAnnotationOrEdit(event: MatrixEvent): boolean {
  return event.getType() === EventType.Reaction || event.isRelation(RelationType.Replace) || event.isRelation(RelationType.Annotation);
}

/** The text of a visible event, or null for events the timeline does not show. */
function describe(event: MatrixEvent, room: Room): Shown | null {
  if (isAnnotationOrEdit(event)) return null;
  if (event.isRedacted() || event.localRedactionEvent()) {
    return MESSAGE_TYPES.includes(event.getType()) ? { body: "Message deleted", deleted: true } : null;
  }
  if (event.isDecryptionFailure()) {
    return { body: "", undecryptable: describeDecryptionFailure(event.decryptionFailureReason) };
  }
  const content = event.getContent();
  switch (event.getType()) {
    case EventType.RoomMessage: {
      if (typeof content.body !== "string") return null;
      const isReply = replyOf(event) !== null;
      const body = isReply ? stripReplyFallback(content.body) : content.body;
      const html =
        content.format === HTML_FORMAT && typeof content.formatted_body === "string"
          ? isReply
            ? stripHtmlReplyFallback(content.formatted_body)
            : content.formatted_body
          : undefined;
      const variant = content.msgtype === "m.emote" ? "emote" : content.msgtype === "m.notice" ? "notice" : undefined;
      return { body, html, variant };
    }
    case EventType.RoomMessageEncrypted:
      return { body: "Decrypting…", notice: false };
    case EventType.RoomMember: {
      const text = membershipNotice(event, room);
      return text ? { body: text, notice: true } : null;
    }
    case EventType.RoomCreate:
      return { body: `${memberName(room, event.getSender() ?? "")} created the conversation`, notice: true };
    case EventType.RoomName:
      return { body: `Name changed to "${content.name ?? ""}"`, notice: true };
    case EventType.RoomTopic:
      return { body: `Topic changed to "${content.topic ?? ""}"`, notice: true };
    case EventType.RoomEncryption:
      return { body: "Messages here are end-to-end encrypted", notice: true };
    default:
      return null;
  }
}

/** The replied-to event: m.relates_to may be in the decrypted content or lifted into the clear. */
function replyOf(event: MatrixEvent): string | null {
  return replyTarget(event.getOriginalContent()) ?? replyTarget(event.getWireContent());
}

/** The thread an event is in (m.relates_to is in the clear for encrypted events). */
export function threadRelationOf(event: MatrixEvent): { rootId: string; fallingBack: boolean } | null {
  return threadOf(event.getWireContent()) ?? threadOf(event.getOriginalContent());
}

/** Thread root -> the IDs of its replies among `events`, in timeline order. */
export function threadRepliesIn(events: MatrixEvent[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const event of events) {
    const thread = threadRelationOf(event);
    const id = event.getId();
    if (!thread || !id || isAnnotationOrEdit(event) || event.isRedacted()) continue;
    const list = out.get(thread.rootId) ?? [];
    list.push(id);
    out.set(thread.rootId, list);
  }
  return out;
}

/** The reply count a thread root shows: the server's bundle plus replies loaded since. */
function threadSummaryOf(event: MatrixEvent, loadedReplies: Map<string, string[]>): { count: number } | undefined {
  const id = event.getId();
  if (!id) return undefined;
  const bundle = event.getServerAggregatedRelation<{ count?: number; latest_event?: { event_id?: string } }>("m.thread");
  const count = threadReplyCount(
    bundle && typeof bundle.count === "number" ? { count: bundle.count, latestEventId: bundle.latest_event?.event_id } : null,
    loadedReplies.get(id) ?? [],
  );
  return count > 0 ? { count } : undefined;
}

function eventKey(event: MatrixEvent): string {
  return event.getId() ?? event.getTxnId() ?? `${event.getSender()}-${event.getTs()}`;
}

function reactionsOf(event: MatrixEvent, room: Room, myUserId: string): ReactionSummary[] | undefined {
  const id = event.getId();
  if (!id) return undefined;
  const relations = room.relations.getChildEventsForEvent(id, RelationType.Annotation, EventType.Reaction);
  const reactions = (relations?.getRelations() ?? [])
    .filter((r) => !r.isRedacted() && !r.localRedactionEvent() && r.status !== EventStatus.CANCELLED && r.status !== EventStatus.NOT_SENT)
    .map((r) => ({ key: String(r.getRelation()?.key ?? ""), sender: r.getSender() ?? "", eventId: eventKey(r) }));
  const summary = aggregateReactions(reactions, myUserId);
  return summary.length ? summary.map((s) => ({ ...s, names: s.senders.map((id) => memberName(room, id)) })) : undefined;
}

/** The room's calls folded from `events` (m.call.* in timeline order), one summary per call ID. */
export function callSummariesIn(events: MatrixEvent[]): Map<string, CallSummary> {
  const infos: CallEventInfo[] = [];
  for (const e of events) {
    if (!isCallEventType(e.getType()) || e.isRedacted()) continue;
    infos.push({ type: e.getType(), sender: e.getSender() ?? "", ts: e.getTs(), content: e.getContent() });
  }
  return summarizeCalls(infos, Date.now());
}

/** A call's line in the timeline (shown at its invite; the other m.call.* events are not drawn). */
function describeCall(event: MatrixEvent, room: Room, myUserId: string, calls: Map<string, CallSummary> | undefined): Shown | null {
  if (event.getType() !== EventType.CallInvite) return null;
  const callId = event.getContent().call_id;
  const summary = (calls ?? callSummariesIn(room.getLiveTimeline().getEvents())).get(callId);
  if (!summary) return null;
  return { body: callHistoryText(summary, myUserId, (id) => memberName(room, id)), notice: true };
}

export function toTimelineMessage(
  event: MatrixEvent,
  room: Room,
  myUserId: string,
  threadReplies: Map<string, string[]> = new Map(),
  calls?: Map<string, CallSummary>,
): TimelineMessage | null {
  const shown = isCallEventType(event.getType()) ? describeCall(event, room, myUserId, calls) : describe(event, room);
  if (!shown) return null;
  const thread = threadRelationOf(event);
  // A thread reply's m.in_reply_to with is_falling_back is only for clients without threads.
  const sender = event.getSender() ?? "";
  const own = sender === myUserId;
  const sendState = sendStateOf(event);
  const isText = event.getType() === EventType.RoomMessage && !shown.deleted && !shown.undecryptable;
  return {
    eventId: eventKey(event),
    sender,
    senderName: memberName(room, sender),
    ts: event.getTs(),
    body: shown.body,
    html: shown.html,
    undecryptable: shown.undecryptable,
    notice: shown.notice,
    deleted: shown.deleted,
    replyTo: shown.deleted || thread?.fallingBack ? undefined : (replyOf(event) ?? undefined),
    variant: shown.variant,
    threadRoot: thread?.rootId,
    thread: thread || shown.deleted ? undefined : threadSummaryOf(event, threadReplies),
    edited: !shown.deleted && event.replacingEvent() !== null,
    editable: own && isText && sendState === "sent" && ["m.text", "m.emote", "m.notice"].includes(String(event.getContent().msgtype)),
    reactions: shown.deleted ? undefined : reactionsOf(event, room, myUserId),
    attachment: shown.deleted || shown.undecryptable ? undefined : (attachmentOf(event.getContent()) ?? undefined),
    sendState,
    own,
  };
}

/**
 * Live timeline plus our own messages still being sent (kept apart by the "detached" pending ordering);
 * or the given `events` (a window of history around an event, see timeline-window.ts).
 */
export function timelineMessages(room: Room, myUserId: string, events?: MatrixEvent[]): TimelineMessage[] {
  events ??= [...room.getLiveTimeline().getEvents(), ...room.getPendingEvents()];
  const threadReplies = threadRepliesIn(events);
  const calls = callSummariesIn(events);
  const out: TimelineMessage[] = [];
  for (const event of events) {
    if (room.client.isUserIgnored(event.getSender() ?? "")) continue; // blocked: their messages are hidden
    const message = toTimelineMessage(event, room, myUserId, threadReplies, calls);
    if (message) out.push(message);
    // A receipt on an event we do not draw (a reaction, an edit) shows on the message before it.
    const target = message && !message.notice ? message : lastMessageOf(out);
    if (!target || !event.getId()) continue;
    for (const userId of room.getUsersReadUpTo(event)) {
      if (userId === myUserId) continue;
      (target.readBy ??= []).push({ userId, name: memberName(room, userId) });
    }
  }
  return out;
}

/**
 * The first message someone else sent after our own read receipt (which may sit on an event we do not
 * draw, like a reaction), or null when all is read or the receipt is not in the loaded timeline.
 */
export function firstUnreadEventId(room: Room, myUserId: string): string | null {
  const readId = room.getEventReadUpTo(myUserId, true);
  const events = room.getLiveTimeline().getEvents();
  const read = readId ? events.findIndex((e) => e.getId() === readId) : -1;
  if (read < 0) return null;
  for (const event of events.slice(read + 1)) {
    if (event.getSender() === myUserId) continue;
    const message = toTimelineMessage(event, room, myUserId);
    if (message && !message.notice) return message.eventId;
  }
  return null;
}

function lastMessageOf(messages: TimelineMessage[]): TimelineMessage | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (!messages[i].notice) return messages[i];
  return undefined;
}

/** What a reply's quote shows of the original, when it is in the loaded timeline. */
export interface QuotedMessage {
  eventId: string;
  sender: string;
  senderName: string;
  body: string;
  deleted?: boolean;
}

export function quotedMessage(event: MatrixEvent, room: Room): QuotedMessage {
  const sender = event.getSender() ?? "";
  const shown = describe(event, room);
  return {
    eventId: eventKey(event),
    sender,
    senderName: memberName(room, sender),
    body: shown?.undecryptable ?? shown?.body ?? "",
    deleted: shown?.deleted,
  };
}

export function directRoomIds(client: MatrixClient): Set<string> {
  const content = client.getAccountData(EventType.Direct)?.getContent<Record<string, string[]>>() ?? {};
  return new Set(Object.values(content).flat());
}

function lastMessage(room: Room): MatrixEvent | undefined {
  const events = [...room.getLiveTimeline().getEvents(), ...room.getPendingEvents()];
  for (let i = events.length - 1; i >= 0; i--) {
    const type = events[i].getType();
    if (isAnnotationOrEdit(events[i])) continue; // "* fixed" or a reaction is not the conversation's last message
    if (type === EventType.RoomMessage || type === EventType.RoomMessageEncrypted) return events[i];
  }
  return undefined;
}

export function summarizeRoom(room: Room, client: MatrixClient, direct: Set<string>): RoomSummary | null {
  const myUserId = client.getSafeUserId();
  const membership = room.getMyMembership();
  if (membership !== KnownMembership.Join && membership !== KnownMembership.Invite) return null;
  const inviteEvent = membership === KnownMembership.Invite ? room.getMember(myUserId)?.events.member : undefined;
  const isDirect = direct.has(room.roomId) || inviteEvent?.getContent().is_direct === true;
  const last = lastMessage(room);
  let preview = "";
  if (last && !last.isRedacted() && !last.isDecryptionFailure() && last.getContent().msgtype === "m.emote") {
    preview = previewText(null, emoteText(memberName(room, last.getSender() ?? ""), String(last.getContent().body ?? "")));
  } else if (last) {
    const sender = last.getSender() ?? "";
    const name = sender === myUserId ? "You" : isDirect ? null : memberName(room, sender);
    const body = last.isRedacted()
      ? "Message deleted"
      : last.isDecryptionFailure()
      ? "Unable to decrypt"
      : last.getType() === EventType.RoomMessageEncrypted
        ? "Encrypted message"
        : stripReplyFallback(String(last.getContent().body ?? ""));
    preview = previewText(name, body);
  }
  const inviter = inviteEvent?.getSender();
  const name =
    membership === KnownMembership.Invite && isDirect && inviter
      ? (inviteEvent?.sender?.name ?? inviter)
      : room.name;
  return {
    roomId: room.roomId,
    name,
    avatarId: isDirect ? (membership === KnownMembership.Invite ? inviter : room.guessDMUserId()) || room.roomId : room.roomId,
    isDirect,
    membership,
    encrypted: room.hasEncryptionStateEvent(),
    lastActivityTs: last?.getTs() ?? inviteEvent?.getTs() ?? room.getLastActiveTimestamp(),
    lastMessagePreview: membership === KnownMembership.Invite ? `Invited by ${inviter ?? "someone"}` : preview,
    unread: room.getUnreadNotificationCount(NotificationCountType.Total),
    highlight: room.getUnreadNotificationCount(NotificationCountType.Highlight),
    inviter,
  };
}
