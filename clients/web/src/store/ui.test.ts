import { afterEach, describe, expect, it, vi } from "vitest";
import { toastError, useUiStore } from "./ui";

describe("ui store", () => {
  afterEach(() => useUiStore.getState().reset());

  it("keeps one toast per message and at most four", () => {
    toastError("a");
    toastError("a");
    expect(useUiStore.getState().toasts.map((t) => t.text)).toEqual(["a"]);
    for (const t of ["b", "c", "d", "e"]) toastError(t);
    expect(useUiStore.getState().toasts.map((t) => t.text)).toEqual(["b", "c", "d", "e"]);
  });

  it("dismisses info toasts by themselves, error toasts only by hand", () => {
    vi.useFakeTimers();
    useUiStore.getState().toast({ kind: "info", text: "saved" });
    toastError("failed", { label: "Retry", run: () => {} });
    vi.advanceTimersByTime(6000);
    expect(useUiStore.getState().toasts.map((t) => t.text)).toEqual(["failed"]);
    const [error] = useUiStore.getState().toasts;
    useUiStore.getState().dismissToast(error.id);
    expect(useUiStore.getState().toasts).toEqual([]);
    vi.useRealTimers();
  });

  it("remembers whether the side panel is open", () => {
    const s = useUiStore.getState();
    s.setRightPanel({ kind: "members", userId: "@x:y" });
    expect(localStorage.getItem("hs.rightPanel")).toBe("members");
    s.setRightPanel(null);
    expect(localStorage.getItem("hs.rightPanel")).toBeNull();
  });

  it("forgets everything of the session on reset", () => {
    const s = useUiStore.getState();
    s.setSessionExpired({ soft: true });
    s.setIgnoredUsers(["@x:y"]);
    s.setAvatarUrls({ "@x:y": "blob:1" });
    s.reset();
    const after = useUiStore.getState();
    expect([after.sessionExpired, after.ignoredUsers, after.avatarUrls]).toEqual([null, [], {}]);
  });
});
