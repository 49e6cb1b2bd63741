// The SDK side of replies, edits, reactions, deletions and receipts: SDK room -> plain timeline data.
import { EventType, MatrixEvent, type Room } from "matrix-js-sdk";
import { describe, expect, it } from "vitest";
import { editContent, reactionContent, replyContent } from "@/lib/relations";
import { firstUnreadEventId, quotedMessage, summarizeRoom, timelineMessages } from "./events";
import { BOB, ME, ROOM, timelineFixture } from "./timeline-fixture";

const { event, roomWith, nextTs } = timelineFixture(1_800_000_000_000, "e");

const text = (sender: string, body: string) => event(EventType.RoomMessage, sender, { msgtype: "m.text", body });
const byBody = (room: Room, body: string) => timelineMessages(room, ME).find((m) => m.body === body);

describe("replies", () => {
  it("know their original and drop an old-style fallback; the quote reads the original", async () => {
    const original = text(BOB, "Lunch?");
    const reply = event(EventType.RoomMessage, ME, {
      ...(await replyContent("Yes", { eventId: original.getId()!, sender: BOB }, ME)),
      body: "> <@bob:hs> Lunch?\n\nYes",
      format: "org.matrix.custom.html",
      formatted_body: "<mx-reply><blockquote>Lunch?</blockquote></mx-reply><b>Yes</b>",
    });
    const { room } = await roomWith([original, reply]);
    expect(byBody(room, "Yes")).toMatchObject({ replyTo: original.getId(), html: "<b>Yes</b>", own: true });
    expect(quotedMessage(original, room)).toMatchObject({ senderName: "Bob", body: "Lunch?" });
  });
});

describe("edits", () => {
  it("replace the text of their target, mark it edited and are not drawn themselves", async () => {
    const original = text(ME, "Meet at the cafe");
    const edit = event(EventType.RoomMessage, ME, await editContent(original.getId()!, "Meet at the **bakery**"));
    const { room } = await roomWith([original, edit]);
    const messages = timelineMessages(room, ME).filter((m) => !m.notice);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      eventId: original.getId(),
      body: "Meet at the **bakery**",
      html: "Meet at the <strong>bakery</strong>",
      edited: true,
      editable: true,
    });
  });

  it("by someone else are ignored (only the sender may edit)", async () => {
    const original = text(ME, "mine");
    const { room } = await roomWith([original, event(EventType.RoomMessage, BOB, await editContent(original.getId()!, "hijacked"))]);
    expect(byBody(room, "mine")?.edited).toBe(false);
    expect(byBody(room, "mine")?.editable).toBe(true);
    expect(byBody(room, "hijacked")).toBeUndefined();
  });
});

describe("reactions", () => {
  it("are aggregated on their target with names and our own event, and redacted ones drop out", async () => {
    const target = text(BOB, "Great news");
    const bobs = event(EventType.Reaction, BOB, reactionContent(target.getId()!, "👍"));
    const mine = event(EventType.Reaction, ME, reactionContent(target.getId()!, "👍"));
    const party = event(EventType.Reaction, ME, reactionContent(target.getId()!, "🎉"));
    const { room } = await roomWith([target, bobs, mine, party]);
    expect(byBody(room, "Great news")?.reactions).toEqual([
      { key: "👍", count: 2, ownEventId: mine.getId(), senders: [BOB, ME], names: ["Bob", "Me"] },
      { key: "🎉", count: 1, ownEventId: party.getId(), senders: [ME], names: ["Me"] },
    ]);
    await room.addLiveEvents([event(EventType.RoomRedaction, ME, { redacts: party.getId() }, { redacts: party.getId() })], {
      addToState: false,
    });
    expect(byBody(room, "Great news")?.reactions?.map((r) => r.key)).toEqual(["👍"]);
    // Neither the reaction events nor the redacted one show as messages.
    expect(timelineMessages(room, ME).filter((m) => !m.notice).map((m) => m.body)).toEqual(["Great news"]);
  });
});

describe("deleted messages", () => {
  it("show as deleted, without actions, reactions or reply", async () => {
    const message = text(ME, "Oops");
    const { room, client } = await roomWith([message]);
    await room.addLiveEvents([event(EventType.RoomRedaction, ME, { redacts: message.getId() }, { redacts: message.getId() })], {
      addToState: false,
    });
    expect(timelineMessages(room, ME).filter((m) => !m.notice)).toEqual([
      expect.objectContaining({ eventId: message.getId(), deleted: true, body: "Message deleted", editable: false }),
    ]);
    expect(summarizeRoom(room, client, new Set())?.lastMessagePreview).toContain("Message deleted");
  });
});

describe("read receipts", () => {
  it("show each other person once, at their latest receipt, moved off events that are not drawn", async () => {
    const first = text(ME, "one");
    const second = text(ME, "two");
    const reaction = event(EventType.Reaction, BOB, reactionContent(second.getId()!, "👍"));
    const { room } = await roomWith([first, second, reaction]);
    room.addReceipt(
      new MatrixEvent({
        type: "m.receipt",
        room_id: ROOM,
        content: {
          [reaction.getId()!]: { "m.read": { [BOB]: { ts: nextTs() } } },
          [first.getId()!]: { "m.read": { [ME]: { ts: nextTs() } } },
        },
      }),
    );
    expect(byBody(room, "one")?.readBy).toBeUndefined();
    expect(byBody(room, "two")?.readBy).toEqual([{ userId: BOB, name: "Bob" }]);
  });
});

describe("firstUnreadEventId", () => {
  it("is the first message from someone else after our receipt, even when the receipt is on a reaction", async () => {
    const mine = text(ME, "question");
    const reaction = event(EventType.Reaction, ME, reactionContent(mine.getId()!, "👍"));
    const ownLater = text(ME, "more from me");
    const answer = text(BOB, "answer");
    const { room } = await roomWith([mine, reaction, ownLater, answer]);
    expect(firstUnreadEventId(room, ME)).toBeNull(); // no receipt of ours in the loaded timeline
    const receipt = (eventId: string) =>
      new MatrixEvent({ type: "m.receipt", room_id: ROOM, content: { [eventId]: { "m.read": { [ME]: { ts: nextTs() } } } } });
    room.addReceipt(receipt(reaction.getId()!));
    expect(firstUnreadEventId(room, ME)).toBe(answer.getId());
    room.addReceipt(receipt(answer.getId()!));
    expect(firstUnreadEventId(room, ME)).toBeNull();
  });
});
