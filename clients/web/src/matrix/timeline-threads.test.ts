// The SDK side of emotes, notices and threads: SDK room -> plain timeline data and room list preview.
import { EventType, type Room } from "matrix-js-sdk";
import { describe, expect, it } from "vitest";
import { editContent, textContent, threadContent } from "@/lib/relations";
import { summarizeRoom, timelineMessages } from "./events";
import { BOB, ME, timelineFixture } from "./timeline-fixture";

const { event, roomWith } = timelineFixture(1_900_000_000_000, "t");

const message = (sender: string, content: Record<string, unknown>) => event(EventType.RoomMessage, sender, content);
const byBody = (room: Room, body: string) => timelineMessages(room, ME).find((m) => m.body === body);

describe("emotes and notices", () => {
  it("are marked so the timeline draws them apart, with their HTML", async () => {
    const { room } = await roomWith([
      message(BOB, await textContent("waves **hard**", "m.emote")),
      message(BOB, { msgtype: "m.notice", body: "Build passed" }),
      message(BOB, { msgtype: "m.text", body: "plain" }),
    ]);
    expect(byBody(room, "waves **hard**")).toMatchObject({ variant: "emote", html: "waves <strong>hard</strong>" });
    expect(byBody(room, "Build passed")).toMatchObject({ variant: "notice" });
    expect(byBody(room, "plain")?.variant).toBeUndefined();
  });

  it("an emote is the room list preview as '* Name action', ours too", async () => {
    const { room, client } = await roomWith([message(BOB, await textContent("waves", "m.emote"))]);
    expect(summarizeRoom(room, client, new Set())?.lastMessagePreview).toBe("* Bob waves");
    await room.addLiveEvents([message(ME, await textContent("nods", "m.emote"))], { addToState: false });
    expect(summarizeRoom(room, client, new Set())?.lastMessagePreview).toBe("* Me nods");
  });

  it("an edited emote stays an emote", async () => {
    const original = message(ME, await textContent("waves", "m.emote"));
    const { room } = await roomWith([original, message(ME, await editContent(original.getId()!, "dances", "m.emote"))]);
    expect(byBody(room, "dances")).toMatchObject({ variant: "emote", edited: true, editable: true });
  });
});

describe("threads", () => {
  it("a root counts its replies; a reply knows its root and its fallback is not drawn as a quote", async () => {
    const root = message(BOB, { msgtype: "m.text", body: "Topic" });
    const first = message(ME, await threadContent("one", { rootId: root.getId()!, latestEventId: root.getId()! }, ME));
    const second = message(BOB, await threadContent("two", { rootId: root.getId()!, latestEventId: first.getId()!, replyTo: { eventId: first.getId()!, sender: ME } }, BOB));
    const { room } = await roomWith([root, first, second]);
    expect(byBody(room, "Topic")).toMatchObject({ thread: { count: 2 } });
    expect(byBody(room, "Topic")?.threadRoot).toBeUndefined();
    expect(byBody(room, "one")).toMatchObject({ threadRoot: root.getId(), replyTo: undefined, thread: undefined });
    // A real reply inside the thread keeps its quote.
    expect(byBody(room, "two")).toMatchObject({ threadRoot: root.getId(), replyTo: first.getId() });
  });

  it("a root counts the server's bundle plus replies that came after it", async () => {
    const latest = { event_id: "$older-latest" };
    const root = event(EventType.RoomMessage, BOB, { msgtype: "m.text", body: "Old topic" }, {
      unsigned: { "m.relations": { "m.thread": { count: 5, latest_event: latest, current_user_participated: false } } },
    });
    const { room } = await roomWith([root]);
    expect(byBody(room, "Old topic")?.thread).toEqual({ count: 5 });
    await room.addLiveEvents([message(ME, await threadContent("new", { rootId: root.getId()!, latestEventId: "$older-latest" }, ME))], {
      addToState: false,
    });
    // The bundle's latest reply is not loaded: the larger count stays.
    expect(byBody(room, "Old topic")?.thread).toEqual({ count: 5 });
  });
});
