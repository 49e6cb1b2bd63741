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
  // One list for subscribing and unsubscribing, so the two cannot drift apart.
  const listeners: [string, (...args: never[]) => void][] = [
    [RoomEvent.Timeline, inRoom],
    [RoomEvent.TimelineReset, refresh],
    [RoomEvent.LocalEchoUpdated, onEvent],
    [RoomEvent.Redaction, onEvent],
    [RoomEvent.RedactionCancelled, onEvent],
    [MatrixEventEvent.Decrypted, onEvent],
    // An edit applied to its target changes the target's text.
    [MatrixEventEvent.Replaced, onEvent],
    [RoomMemberEvent.Name, refresh],
    [ClientEvent.Room, refresh],
    [ClientEvent.AccountData, refresh], // the ignore list hides or shows messages
    [RoomEvent.Receipt, onReceipt], // receipts move the "read by" avatars
  ];
  // The SDK's typed emitter wants each event with its own handler type; the list holds matching pairs.
  const emitter = client as unknown as {
    on(event: string, listener: (...args: never[]) => void): void;
    off(event: string, listener: (...args: never[]) => void): void;
  };
  refresh();
  for (const [event, listener] of listeners) emitter.on(event, listener);
  return () => {
    cancelAnimationFrame(frame);
    for (const [event, listener] of listeners) emitter.off(event, listener);
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
