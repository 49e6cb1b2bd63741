// For the timeline tests: SDK rooms built from hand-made events, without a server.
import { createClient, EventType, MatrixEvent, PendingEventOrdering, Room } from "matrix-js-sdk";

export const ME = "@me:hs";
export const BOB = "@bob:hs";
export const ROOM = "!room:hs";

/**
 * Events in ROOM with increasing timestamps from `firstTs` (event IDs `$<idPrefix><ts>`), and rooms made
 * of them. `nextTs` hands out the next timestamp (for receipts).
 */
export function timelineFixture(firstTs: number, idPrefix: string) {
  let ts = firstTs;
  const nextTs = () => ts++;

  function event(type: string, sender: string, content: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const id = `$${idPrefix}${ts}`;
    return new MatrixEvent({ type, sender, content, room_id: ROOM, event_id: id, origin_server_ts: nextTs(), ...extra });
  }

  /** A room Bob created and both ME ("Me") and Bob ("Bob") joined, then `events` in its live timeline. */
  async function roomWith(events: MatrixEvent[]) {
    const client = createClient({ baseUrl: "http://127.0.0.1:1", userId: ME, deviceId: "DEV" });
    const room = new Room(ROOM, client, ME, { pendingEventOrdering: PendingEventOrdering.Detached });
    const state = [
      event(EventType.RoomCreate, BOB, { room_version: "12" }, { state_key: "" }),
      event(EventType.RoomMember, BOB, { membership: "join", displayname: "Bob" }, { state_key: BOB }),
      event(EventType.RoomMember, ME, { membership: "join", displayname: "Me" }, { state_key: ME }),
    ];
    await room.addLiveEvents([...state, ...events], { addToState: true });
    room.recalculate();
    return { client, room };
  }

  return { event, roomWith, nextTs };
}
