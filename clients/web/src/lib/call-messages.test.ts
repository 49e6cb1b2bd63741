import { describe, expect, it } from "vitest";
import { callEndedText, mediaErrorText } from "./call-messages";

const base = { remote: true, direction: "outgoing" as const, wasConnected: false, peerName: "Bob" };

describe("callEndedText", () => {
  it("says who declined, who missed, who hung up", () => {
    expect(callEndedText({ ...base, reason: "user_hangup" })).toBe("Bob declined the call");
    expect(callEndedText({ ...base, reason: undefined, direction: "incoming" })).toBe("Missed call from Bob");
    expect(callEndedText({ ...base, reason: "user_hangup", wasConnected: true })).toBe("Bob ended the call");
    expect(callEndedText({ ...base, reason: "user_hangup", remote: false, wasConnected: true })).toBe("Call ended");
  });
  it("an invite that ran out is a missed call for the callee, no answer for the caller", () => {
    expect(callEndedText({ ...base, reason: "invite_timeout" })).toBe("Bob did not answer");
    expect(callEndedText({ ...base, reason: "invite_timeout", direction: "incoming" })).toBe("Missed call from Bob");
  });
  it("names the special endings, and says nothing for a call replaced by glare", () => {
    expect(callEndedText({ ...base, reason: "answered_elsewhere", direction: "incoming" })).toBe("The call was answered on another device");
    expect(callEndedText({ ...base, reason: "user_busy" })).toBe("Bob is busy");
    expect(callEndedText({ ...base, reason: "ice_failed", wasConnected: true })).toMatch(/^The connection failed/);
    expect(callEndedText({ ...base, reason: "replaced" })).toBeNull();
  });
});

describe("mediaErrorText", () => {
  it("explains refused, missing and busy devices with what to do", () => {
    expect(mediaErrorText("NotAllowedError")).toMatch(/blocked .* Allow them/);
    expect(mediaErrorText("NotFoundError")).toMatch(/No microphone or camera was found\. Connect one/);
    expect(mediaErrorText("NotReadableError")).toMatch(/in use by another application/);
    expect(mediaErrorText("Whatever")).toMatch(/could not be used/);
    expect(mediaErrorText("NotAllowedError", { secureContext: false })).toMatch(/https/);
  });
});
