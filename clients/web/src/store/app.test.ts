import { beforeEach, describe, expect, it } from "vitest";
import type { RoomSummary } from "@/lib/rooms";
import { THEME_KEY } from "@/lib/theme";
import { useAppStore } from "./app";

const room = (roomId: string): RoomSummary => ({
  roomId,
  name: roomId,
  avatarId: roomId,
  isDirect: true,
  membership: "join",
  encrypted: true,
  lastActivityTs: 0,
  lastMessagePreview: "",
  unread: 0,
  highlight: 0,
});

describe("app store", () => {
  beforeEach(() => useAppStore.getState().reset());

  it("keeps the open room while it is in the list, and closes it when it goes", () => {
    const s = useAppStore.getState();
    s.setRooms([room("!a"), room("!b")]);
    s.selectRoom("!b");
    s.setRooms([room("!b")]);
    expect(useAppStore.getState().selectedRoomId).toBe("!b");
    s.setRooms([room("!a")]);
    expect(useAppStore.getState().selectedRoomId).toBeNull();
  });

  it("remembers the theme", () => {
    useAppStore.getState().setTheme("dark");
    expect(useAppStore.getState().theme).toBe("dark");
    expect(localStorage.getItem(THEME_KEY)).toBe("dark");
  });

  it("forgets everything about the session on reset, but not the theme", () => {
    const s = useAppStore.getState();
    s.setTheme("light");
    s.setStatus("ready", { userId: "@a:x", deviceId: "D", homeserverUrl: "http://h" });
    s.setRooms([room("!a")]);
    s.selectRoom("!a");
    s.setRecoveryKey("EsT...");
    s.setCrypto("ready");
    s.reset();
    const after = useAppStore.getState();
    expect(after).toMatchObject({
      status: "logged-out",
      session: null,
      rooms: [],
      selectedRoomId: null,
      recoveryKey: null,
      crypto: { status: "off" },
      theme: "light",
    });
  });

  it("updates status without dropping the session unless told", () => {
    const s = useAppStore.getState();
    s.setStatus("starting", { userId: "@a:x", deviceId: "D", homeserverUrl: "http://h" });
    s.setStatus("ready");
    expect(useAppStore.getState().session?.userId).toBe("@a:x");
  });
});
