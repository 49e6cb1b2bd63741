import { RoomMemberEvent, type MatrixEvent, type RoomMember } from "matrix-js-sdk";
import { useEffect, useState } from "react";
import { currentClient, typingNames } from "./session";

/** Names of the other people typing in the room, updated from the typing notifications in /sync. */
export function useTyping(roomId: string): string[] {
  const [names, setNames] = useState<string[]>(() => typingNames(roomId));
  useEffect(() => {
    const client = currentClient();
    if (!client) return;
    setNames(typingNames(roomId));
    const onTyping = (_e: MatrixEvent, member: RoomMember) => {
      if (member.roomId === roomId) setNames(typingNames(roomId));
    };
    client.on(RoomMemberEvent.Typing, onTyping);
    return () => {
      client.off(RoomMemberEvent.Typing, onTyping);
    };
  }, [roomId]);
  return names;
}
