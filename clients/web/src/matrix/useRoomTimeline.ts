import { ClientEvent, MatrixEventEvent, RoomEvent, RoomMemberEvent, type MatrixClient, type MatrixEvent, type Room } from "matrix-js-sdk";
import { useEffect, useState } from "react";
import type { TimelineMessage } from "@/lib/timeline";
import { timelineMessages } from "./events";
import { currentClient } from "./session";
import type { FocusedTimeline } from "./timeline-window";

/**
 * Calls `refresh` (at most once per frame) whenever the SDK says something in the room changed: new
 * or paginated events, decryption, edits, redactions, receipts, names, the ignore list. Returns the
 * unsubscribe function.
 */
export function subscribeToRoom(client: MatrixClient, roomId: string, changed: () => void): () => void {
  let frame = 0;
  const refresh = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      changed();
    });
  };
  const inRoom = (_e: unknown, room?: Room) => {
    if (!room || room.roomId === roomId) refresh();
  };
  const onEvent = (event: MatrixEvent) => {
    if (event.getRoomId() === roomId) refresh();
  };
  const onReceipt = (_e: MatrixEvent, room: Room) => {
    if (room.roomId === roomId) refresh();
  };
  refresh();
  client.on(RoomEvent.Timeline, inRoom);
  client.on(RoomEvent.TimelineReset, refresh);
  client.on(RoomEvent.LocalEchoUpdated, onEvent);
  client.on(RoomEvent.Redaction, onEvent);
  client.on(MatrixEventEvent.Decrypted, onEvent);
  client.on(RoomMemberEvent.Name, refresh);
  client.on(ClientEvent.Room, refresh);
  client.on(ClientEvent.AccountData, refresh); // the ignore list hides or shows messages
  // Receipts move the "read by" avatars; an edit applied to its target changes the target's text.
  client.on(RoomEvent.Receipt, onReceipt);
  client.on(RoomEvent.RedactionCancelled, onEvent);
  client.on(MatrixEventEvent.Replaced, onEvent);
  return () => {
    client.off(RoomEvent.Receipt, onReceipt);
    client.off(RoomEvent.RedactionCancelled, onEvent);
    client.off(MatrixEventEvent.Replaced, onEvent);
    cancelAnimationFrame(frame);
    client.off(RoomEvent.Timeline, inRoom);
    client.off(RoomEvent.TimelineReset, refresh);
    client.off(RoomEvent.LocalEchoUpdated, onEvent);
    client.off(RoomEvent.Redaction, onEvent);
    client.off(MatrixEventEvent.Decrypted, onEvent);
    client.off(RoomMemberEvent.Name, refresh);
    client.off(ClientEvent.Room, refresh);
    client.off(ClientEvent.AccountData, refresh);
  };
}

/**
 * The room's messages as plain data, re-read whenever the SDK says something in the room changed:
 * the live timeline, or `focus` (a window of history around an event) while one is set. `version`
 * changes when the window grew (its events are already in the room, so no SDK event says so).
 */
export function useRoomTimeline(roomId: string, focus: FocusedTimeline | null = null, version = 0): TimelineMessage[] {
  const [messages, setMessages] = useState<TimelineMessage[]>(() => read(roomId, focus));

  useEffect(() => {
    const client = currentClient();
    if (!client) return;
    return subscribeToRoom(client, roomId, () => setMessages(read(roomId, focus)));
  }, [roomId, focus, version]);

  return messages;
}

function read(roomId: string, focus: FocusedTimeline | null): TimelineMessage[] {
  const client = currentClient();
  const room = client?.getRoom(roomId);
  if (!client || !room) return [];
  return timelineMessages(room, client.getSafeUserId(), focus ? focus.events() : undefined);
}
