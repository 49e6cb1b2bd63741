import { createClient, EventStatus, EventType, MatrixEvent, PendingEventOrdering, Room } from "matrix-js-sdk";
import { DecryptionError } from "matrix-js-sdk/lib/common-crypto/CryptoBackend.js";
import { DecryptionFailureCode } from "matrix-js-sdk/lib/crypto-api/index.js";
import { describe, expect, it } from "vitest";
import { directRoomIds, sendStateOf, summarizeRoom, timelineMessages } from "./events";

const ME = "@me:hs";
const BOB = "@bob:hs";
const ROOM = "!room:hs";
let ts = 1_700_000_000_000;

function event(type: string, sender: string, content: Record<string, unknown>, stateKey?: string) {
  return new MatrixEvent({
    type,
    sender,
    content,
    room_id: ROOM,
    event_id: `$e${ts}`,
    origin_server_ts: ts++,
    ...(stateKey !== undefined ? { state_key: stateKey } : {}),
  });
}

async function makeRoom(events: MatrixEvent[], membership = "join") {
  const client = createClient({ baseUrl: "http://127.0.0.1:1", userId: ME, deviceId: "DEV" });
  const room = new Room(ROOM, client, ME, { pendingEventOrdering: PendingEventOrdering.Detached });
  const state = [
    event(EventType.RoomCreate, BOB, { room_version: "12" }, ""),
    event(EventType.RoomMember, BOB, { membership: "join", displayname: "Bob" }, BOB),
    event(EventType.RoomMember, membership === "invite" ? BOB : ME, { membership, displayname: "Me", is_direct: true }, ME),
  ];
  await room.addLiveEvents([...state, ...events], { addToState: true });
  room.recalculate();
  return { client, room };
}

describe("timelineMessages", () => {
  it("shows messages with sender names and notices for membership", async () => {
    const { room } = await makeRoom([event(EventType.RoomMessage, BOB, { msgtype: "m.text", body: "hello" })]);
    const messages = timelineMessages(room, ME);
    const last = messages[messages.length - 1];
    expect(last).toMatchObject({ body: "hello", sender: BOB, senderName: "Bob", own: false, sendState: "sent" });
    expect(messages.some((m) => m.notice && m.body === "Bob joined")).toBe(true);
  });

  it("skips events it does not draw", async () => {
    const { room } = await makeRoom([event("m.custom.thing", BOB, { x: 1 })]);
    expect(timelineMessages(room, ME).some((m) => m.body.includes("custom"))).toBe(false);
  });
});

describe("undecryptable messages", () => {
  it("say why they cannot be read", async () => {
    const encrypted = event(EventType.RoomMessageEncrypted, BOB, { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "x" });
    const failingCrypto = {
      decryptEvent: async () => {
        throw new DecryptionError(DecryptionFailureCode.HISTORICAL_MESSAGE_BACKUP_UNCONFIGURED, "no backup");
      },
    };
    await encrypted.attemptDecryption(failingCrypto as never);
    const { room } = await makeRoom([encrypted]);
    const last = timelineMessages(room, ME).at(-1);
    expect(last?.undecryptable).toMatch(/recovery key/);
    expect(last?.body).toBe("");
  });
});

describe("sendStateOf", () => {
  it("maps the SDK's states to ours", () => {
    const e = event(EventType.RoomMessage, ME, { body: "x" });
    expect(sendStateOf(e)).toBe("sent");
    e.setStatus(EventStatus.SENDING);
    expect(sendStateOf(e)).toBe("sending");
    e.setStatus(EventStatus.ENCRYPTING);
    expect(sendStateOf(e)).toBe("sending");
    e.setStatus(EventStatus.NOT_SENT);
    expect(sendStateOf(e)).toBe("failed");
  });
});

describe("summarizeRoom", () => {
  it("previews the last message and knows DMs from m.direct", async () => {
    const { client, room } = await makeRoom([
      event(EventType.RoomMessage, BOB, { msgtype: "m.text", body: "first" }),
      event(EventType.RoomMessage, BOB, { msgtype: "m.text", body: "second\nline" }),
    ]);
    const summary = summarizeRoom(room, client, new Set([ROOM]));
    expect(summary).toMatchObject({ roomId: ROOM, isDirect: true, membership: "join", avatarId: BOB });
    expect(summary?.lastMessagePreview).toContain("second");
    expect(summarizeRoom(room, client, new Set())?.isDirect).toBe(false);
  });

  it("turns an invitation into a request from the inviter", async () => {
    const { client, room } = await makeRoom([], "invite");
    const summary = summarizeRoom(room, client, new Set());
    expect(summary).toMatchObject({ membership: "invite", isDirect: true, inviter: BOB });
    expect(summary?.lastMessagePreview).toMatch(/Invited by/);
  });

  it("reads m.direct account data", () => {
    const client = createClient({ baseUrl: "http://127.0.0.1:1", userId: ME });
    client.store.storeAccountDataEvents([
      new MatrixEvent({ type: EventType.Direct, content: { [BOB]: [ROOM, "!other:hs"] } }),
    ]);
    expect([...directRoomIds(client)].sort()).toEqual(["!other:hs", ROOM]);
  });
});
