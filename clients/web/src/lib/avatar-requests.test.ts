import { afterEach, describe, expect, it, vi } from "vitest";
import { forgetAvatarRequests, isAvatarRequested, onAvatarRequested, requestAvatar, requestWhenVisible } from "./avatar-requests";

describe("avatar requests", () => {
  afterEach(() => {
    forgetAvatarRequests();
    vi.unstubAllGlobals();
  });

  it("tells listeners about new IDs only, and forgets them at logout", () => {
    const heard = vi.fn();
    const stop = onAvatarRequested(heard);
    requestAvatar("@a:hs");
    requestAvatar("@a:hs");
    requestAvatar("!room:hs");
    expect(heard).toHaveBeenCalledTimes(2);
    expect(isAvatarRequested("@a:hs")).toBe(true);
    forgetAvatarRequests();
    expect(isAvatarRequested("@a:hs")).toBe(false);
    stop();
    requestAvatar("@b:hs");
    expect(heard).toHaveBeenCalledTimes(2);
  });

  it("requests an avatar only once its element becomes visible", () => {
    let callback: IntersectionObserverCallback = () => {};
    const observed: Element[] = [];
    class FakeObserver {
      constructor(cb: IntersectionObserverCallback) {
        callback = cb;
      }
      observe(el: Element) {
        observed.push(el);
      }
      unobserve(el: Element) {
        observed.splice(observed.indexOf(el), 1);
      }
    }
    vi.stubGlobal("IntersectionObserver", FakeObserver);
    // Node has no DOM: any object stands for an element.
    const near = { name: "near" } as unknown as Element;
    const far = { name: "far" } as unknown as Element;
    requestWhenVisible(near, "@near:hs");
    requestWhenVisible(far, "@far:hs");
    expect(isAvatarRequested("@near:hs")).toBe(false);
    callback(
      [
        { target: near, isIntersecting: true },
        { target: far, isIntersecting: false },
      ] as unknown as IntersectionObserverEntry[],
      {} as IntersectionObserver,
    );
    expect([isAvatarRequested("@near:hs"), isAvatarRequested("@far:hs")]).toEqual([true, false]);
    expect(observed).toEqual([far]);
  });
});
