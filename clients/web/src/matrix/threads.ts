/**
 * A thread (spec "Threading") as plain data for the thread panel: the root and its replies. The SDK
 * runs without its own thread support (see session.ts), so thread replies are ordinary events of the
 * live timeline; the older ones come from `GET /relations/{root}/m.thread`, decrypted here.
 */
import { Direction, EventStatus, type MatrixEvent, type Room } from "matrix-js-sdk";
import { useEffect, useState } from "react";
import type { TimelineMessage } from "@/lib/timeline";
import { threadRelationOf, toTimelineMessage } from "./events";
import { currentClient, getClient } from "./session";
import { subscribeToRoom } from "./useRoomTimeline";

/** At most this many pages of 50 replies are fetched when a thread opens. */
const MAX_PAGES = 20;

export interface ThreadView {
  root: TimelineMessage | null;
  replies: TimelineMessage[];
  /** What a new reply's fallback `m.in_reply_to` names: the newest sent message of the thread. */
  latestEventId: string;
  loading: boolean;
  problem: string | null;
}

interface Fetched {
  root: MatrixEvent | null;
  replies: MatrixEvent[];
}

async function fetchThread(roomId: string, rootId: string): Promise<Fetched> {
  const c = getClient();
  const mapper = c.getEventMapper();
  const replies: MatrixEvent[] = [];
  let from: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const response = await c.fetchRelations(roomId, rootId, "m.thread", null, { dir: Direction.Backward, limit: 50, from });
    replies.push(...response.chunk.map(mapper));
    if (!response.next_batch) break;
    from = response.next_batch;
  }
  const root = c.getRoom(roomId)?.findEventById(rootId) ?? mapper(await c.fetchRoomEvent(roomId, rootId));
  await Promise.all([root, ...replies].map((e) => c.decryptEventIfNeeded(e)));
  return { root, replies };
}

/** The room's instance of an event when it has one (it carries reactions and edits), else ours. */
function liveInstance(room: Room, event: MatrixEvent): MatrixEvent {
  const id = event.getId();
  return (id && room.findEventById(id)) || event;
}

function readThread(room: Room, rootId: string, fetched: Fetched, myUserId: string): Omit<ThreadView, "loading" | "problem"> {
  const byId = new Map<string, MatrixEvent>();
  for (const event of fetched.replies) byId.set(event.getId() ?? "", liveInstance(room, event));
  const pending: MatrixEvent[] = [];
  for (const event of [...room.getLiveTimeline().getEvents(), ...room.getPendingEvents()]) {
    if (threadRelationOf(event)?.rootId !== rootId) continue;
    if (event.status !== null && event.status !== EventStatus.SENT) pending.push(event);
    else byId.set(event.getId() ?? "", event);
  }
  const sent = [...byId.values()].filter((e) => !room.client.isUserIgnored(e.getSender() ?? "")).sort((a, b) => a.getTs() - b.getTs());
  const replyIds = sent.filter((e) => !e.isRelation("m.replace") && !e.isRelation("m.annotation")).map((e) => e.getId() ?? "");
  const replies = [...sent, ...pending]
    .map((e) => toTimelineMessage(e, room, myUserId))
    .filter((m): m is TimelineMessage => m !== null);
  const rootEvent = room.findEventById(rootId) ?? fetched.root;
  const root = rootEvent ? toTimelineMessage(rootEvent, room, myUserId, new Map([[rootId, replyIds]])) : null;
  const latest = [...replies].reverse().find((m) => m.sendState === "sent" && !m.deleted);
  return { root, replies, latestEventId: latest?.eventId ?? rootId };
}

export function useThread(roomId: string, rootId: string): ThreadView {
  const [fetched, setFetched] = useState<Fetched>({ root: null, replies: [] });
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);
  const [view, setView] = useState<Omit<ThreadView, "loading" | "problem">>({ root: null, replies: [], latestEventId: rootId });

  useEffect(() => {
    let live = true;
    setLoading(true);
    setProblem(null);
    fetchThread(roomId, rootId).then(
      (f) => live && setFetched(f),
      (error) => live && setProblem(`The thread could not be loaded: ${(error as Error).message ?? error}`),
    ).finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [roomId, rootId]);

  useEffect(() => {
    const client = currentClient();
    const room = client?.getRoom(roomId);
    if (!client || !room) return;
    return subscribeToRoom(client, roomId, () => setView(readThread(room, rootId, fetched, client.getSafeUserId())));
  }, [roomId, rootId, fetched]);

  return { ...view, loading, problem };
}
