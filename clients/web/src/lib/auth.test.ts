import { describe, expect, it } from "vitest";
import { chooseFlow, completeUia, emailNeed, needsToken, UiaError } from "./auth";

function uia401(body: object) {
  return Object.assign(new Error("401"), { httpStatus: 401, data: body });
}

describe("chooseFlow", () => {
  it("prefers a flow without a token when none was given", () => {
    const flows = [{ stages: ["m.login.registration_token"] }, { stages: ["m.login.dummy"] }];
    expect(chooseFlow(flows, false)).toEqual({ stages: ["m.login.dummy"] });
    expect(needsToken(flows)).toBe(false);
  });
  it("skips flows with stages we cannot do", () => {
    const flows = [{ stages: ["m.login.recaptcha"] }, { stages: ["m.login.registration_token", "m.login.dummy"] }];
    expect(chooseFlow(flows, true)).toEqual(flows[1]);
    expect(needsToken(flows)).toBe(true);
    expect(chooseFlow([{ stages: ["m.login.recaptcha"] }], true)).toBeNull();
  });
});

describe("completeUia", () => {
  it("does the dummy stage with the server's session", async () => {
    const sent: unknown[] = [];
    const result = await completeUia(async (auth) => {
      sent.push(auth);
      if (!auth) throw uia401({ session: "S1", flows: [{ stages: ["m.login.dummy"] }] });
      return "ok";
    });
    expect(result).toBe("ok");
    expect(sent).toEqual([undefined, { type: "m.login.dummy", session: "S1" }]);
  });

  it("does a token stage then a dummy stage", async () => {
    const sent: Record<string, unknown>[] = [];
    await completeUia(async (auth) => {
      if (auth) sent.push(auth);
      const flows = [{ stages: ["m.login.registration_token", "m.login.dummy"] }];
      if (!auth) throw uia401({ session: "S", flows });
      if (auth.type === "m.login.registration_token") throw uia401({ session: "S", flows, completed: [auth.type] });
      return "ok";
    }, "tok");
    expect(sent).toEqual([
      { type: "m.login.registration_token", token: "tok", session: "S" },
      { type: "m.login.dummy", session: "S" },
    ]);
  });

  it("asks for a token when the only flow needs one", async () => {
    const send = async () => {
      throw uia401({ session: "S", flows: [{ stages: ["m.login.registration_token"] }] });
    };
    await expect(completeUia(send)).rejects.toMatchObject({ reason: "token_required" });
  });

  it("stops on a failed stage instead of looping", async () => {
    let calls = 0;
    const send = async (auth?: object) => {
      calls++;
      throw uia401({ session: "S", flows: [{ stages: ["m.login.registration_token"] }], ...(auth ? { errcode: "M_FORBIDDEN", error: "bad token" } : {}) });
    };
    await expect(completeUia(send, "wrong")).rejects.toMatchObject({ httpStatus: 401 });
    expect(calls).toBe(2);
  });

  it("rethrows errors that are not UIA", async () => {
    const error = Object.assign(new Error("taken"), { httpStatus: 400, data: { errcode: "M_USER_IN_USE" } });
    await expect(completeUia(async () => Promise.reject(error))).rejects.toBe(error);
  });

  it("refuses flows it cannot complete", async () => {
    const send = async () => {
      throw uia401({ session: "S", flows: [{ stages: ["m.login.recaptcha"] }] });
    };
    await expect(completeUia(send)).rejects.toBeInstanceOf(UiaError);
  });
});

describe("e-mail sign-up", () => {
  it("tells whether an address is needed", () => {
    expect(emailNeed([{ stages: ["m.login.email.identity"] }])).toBe("required");
    expect(emailNeed([{ stages: ["m.login.dummy"] }, { stages: ["m.login.email.identity"] }])).toBe("optional");
    expect(emailNeed([{ stages: ["m.login.dummy"] }])).toBe("no");
    expect(emailNeed([{ stages: ["m.login.registration_token", "m.login.email.identity"] }])).toBe("required");
    expect(needsToken([{ stages: ["m.login.registration_token", "m.login.email.identity"] }])).toBe(true);
  });

  it("mails once, then waits until the link is opened", async () => {
    const sent: Record<string, unknown>[] = [];
    let starts = 0;
    let waits = 0;
    const flows = [{ stages: ["m.login.email.identity"] }];
    const result = await completeUia(
      async (auth) => {
        if (!auth) throw uia401({ session: "S", flows });
        sent.push(auth);
        if (sent.length < 3) throw uia401({ session: "S", flows, errcode: "M_UNAUTHORIZED", error: "not yet" });
        return "ok";
      },
      undefined,
      {
        start: async () => {
          starts++;
          return { sid: "sid1", client_secret: "cs" };
        },
        wait: async () => {
          waits++;
        },
      },
    );
    expect(result).toBe("ok");
    expect(waits).toBe(2);
    expect(starts).toBe(1);
    expect(sent[2]).toEqual({ type: "m.login.email.identity", session: "S", threepid_creds: { sid: "sid1", client_secret: "cs" } });
  });

  it("asks for an address when the server requires one", async () => {
    const send = async () => {
      throw uia401({ session: "S", flows: [{ stages: ["m.login.email.identity"] }] });
    };
    await expect(completeUia(send)).rejects.toMatchObject({ reason: "email_required" });
  });
});
