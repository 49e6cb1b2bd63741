import { ClientEvent, MatrixEventEvent, RoomEvent, RoomMemberEvent, type MatrixEvent, type Room } from "matrix-js-sdk";
import { useEffect, useState } from "react";
import type { TimelineMessage } from "@/lib/timeline";
import { timelineMessages } from "./events";
import { currentClient } from "./session";

/** The room's messages as plain data, re-read whenever the SDK says something in the room changed. */
export function useRoomTimeline(roomId: string): TimelineMessage[] {
  const [messages, setMessages] = useState<TimelineMessage[]>(() => read(roomId));

  useEffect(() => {
    const client = currentClient();
    if (!client) return;
    let frame = 0;
    const refresh = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setMessages(read(roomId));
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
  }, [roomId]);

  return messages;
}

function read(roomId: string): TimelineMessage[] {
  const client = currentClient();
  const room = client?.getRoom(roomId);
  return client && room ? timelineMessages(room, client.getSafeUserId()) : [];
}
