/**
 * The previous versions of an edited message: its `m.replace` children from
 * `GET /relations/{eventId}/m.replace` (all pages), decrypted with the SDK in encrypted rooms.
 */
import { Direction, EventType, type MatrixEvent } from "matrix-js-sdk";
import { describeDecryptionFailure } from "@/lib/errors";
import { orderVersions, type MessageVersion } from "@/lib/edit-history";
import { HTML_FORMAT, replyTarget, stripHtmlReplyFallback, stripReplyFallback } from "@/lib/relations";
import { getClient } from "./session";

const MAX_PAGES = 10;

function versionOf(event: MatrixEvent, content: Record<string, unknown>, isReply: boolean): Omit<MessageVersion, "original"> {
  if (event.isDecryptionFailure()) {
    return { eventId: event.getId() ?? "", ts: event.getTs(), body: "", problem: describeDecryptionFailure(event.decryptionFailureReason) };
  }
  const body = typeof content.body === "string" ? content.body : "";
  const html = content.format === HTML_FORMAT && typeof content.formatted_body === "string" ? content.formatted_body : undefined;
  return {
    eventId: event.getId() ?? "",
    ts: event.getTs(),
    body: isReply ? stripReplyFallback(body) : body,
    html: html && isReply ? stripHtmlReplyFallback(html) : html,
  };
}

export async function loadEditHistory(roomId: string, eventId: string): Promise<MessageVersion[]> {
  const c = getClient();
  const mapper = c.getEventMapper();
  const original = c.getRoom(roomId)?.findEventById(eventId) ?? mapper(await c.fetchRoomEvent(roomId, eventId));
  const edits: MatrixEvent[] = [];
  let from: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    // No event type filter: in an encrypted room the edits are m.room.encrypted until decrypted.
    const response = await c.fetchRelations(roomId, eventId, "m.replace", null, { dir: Direction.Backward, limit: 50, from });
    edits.push(...response.chunk.map(mapper));
    if (!response.next_batch) break;
    from = response.next_batch;
  }
  await Promise.all([original, ...edits].map((e) => c.decryptEventIfNeeded(e)));
  const originalContent = original.getOriginalContent();
  const isReply = replyTarget(originalContent) !== null || replyTarget(original.getWireContent()) !== null;
  const versions = [...edits]
    .reverse() // the server sent them newest first; orderVersions takes them in the server's order
    // The spec: an edit counts only from the original's sender, and only with m.new_content.
    .filter((e) => e.getSender() === original.getSender() && !e.isRedacted())
    .filter((e) => e.isDecryptionFailure() || (e.getType() === EventType.RoomMessage && typeof e.getContent()["m.new_content"] === "object"))
    .map((e) => versionOf(e, (e.getContent()["m.new_content"] ?? {}) as Record<string, unknown>, false));
  return orderVersions(versionOf(original, originalContent, isReply), versions);
}
