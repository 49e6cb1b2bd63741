/**
 * Which avatars are on screen: the `Avatar` component asks for its picture when it first becomes
 * visible, and only those pictures are downloaded (a big member list does not fetch every member's
 * avatar at once). Plain data; the SDK side subscribes with `onAvatarRequested`.
 */

const requested = new Set<string>();
const listeners = new Set<() => void>();

/** Marks a user or room ID as shown; listeners hear of new IDs only. */
export function requestAvatar(id: string): void {
  if (requested.has(id)) return;
  requested.add(id);
  for (const listener of listeners) listener();
}

export function isAvatarRequested(id: string): boolean {
  return requested.has(id);
}

export function onAvatarRequested(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** At logout: the next session starts with nothing requested. */
export function forgetAvatarRequests(): void {
  requested.clear();
}

let observer: IntersectionObserver | null = null;
const watched = new WeakMap<Element, string>();

/**
 * Requests `id` once `element` is visible (with a margin, so pictures are ready while scrolling).
 * Without IntersectionObserver (tests, old browsers) it is requested at once. Returns the clean-up.
 */
export function requestWhenVisible(element: Element, id: string): () => void {
  if (requested.has(id)) return () => {};
  if (typeof IntersectionObserver === "undefined") {
    requestAvatar(id);
    return () => {};
  }
  observer ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        const seen = watched.get(entry.target);
        observer?.unobserve(entry.target);
        watched.delete(entry.target);
        if (seen) requestAvatar(seen);
      }
    },
    { rootMargin: "200px" },
  );
  watched.set(element, id);
  observer.observe(element);
  return () => {
    watched.delete(element);
    observer?.unobserve(element);
  };
}
