import { describe, expect, it } from "vitest";
import { lastEditable, type TimelineMessage } from "./timeline";

const message = (eventId: string, editable: boolean): TimelineMessage => ({
  eventId,
  sender: "@me:hs",
  senderName: "Me",
  ts: 1,
  body: eventId,
  sendState: "sent",
  own: true,
  editable,
});

describe("lastEditable", () => {
  it("is the newest editable message (Up arrow), skipping others' and deleted ones", () => {
    expect(lastEditable([message("a", true), message("b", true), message("c", false)])?.eventId).toBe("b");
    expect(lastEditable([message("a", false)])).toBeUndefined();
    expect(lastEditable([])).toBeUndefined();
  });
});
