/**
 * UI state of the files / settings / members / search features, kept apart from the app store: toasts,
 * the session-expired dialog, which side dialogs are open, avatar images, the ignore list.
 */
import { create } from "zustand";

export interface Toast {
  id: number;
  kind: "error" | "info";
  text: string;
  /** The clear next step, as a button. */
  action?: { label: string; run: () => void };
}

/**
 * What the conversation's side panel shows: beside the conversation on a desktop, over it (with a back
 * button) on a phone. One panel at a time; a thread panel would be another `kind` here.
 */
export type RightPanel = { kind: "members"; /** Whose profile is open (null: the list). */ userId: string | null };

const PANEL_KEY = "hs.rightPanel";

/** The panel left open last time (desktop only: on a phone it would hide the conversation). */
function rememberedPanel(): RightPanel | null {
  if (typeof localStorage === "undefined" || typeof matchMedia === "undefined") return null;
  if (!matchMedia("(min-width: 768px)").matches) return null;
  return localStorage.getItem(PANEL_KEY) === "members" ? { kind: "members", userId: null } : null;
}

export interface UiState {
  toasts: Toast[];
  /** Set when the server says our access token is no longer valid; `soft` keeps local data. */
  sessionExpired: { soft: boolean } | null;
  settingsOpen: boolean;
  rightPanel: RightPanel | null;
  /** Which room's settings / search is open (null: none). */
  roomSettingsRoomId: string | null;
  searchOpen: { roomId: string | null } | null;
  /** A message to show (a search result): its conversation scrolls to it and highlights it. */
  jumpTarget: { roomId: string; eventId: string } | null;
  /** User or room ID -> an object URL of its avatar thumbnail (fetched with authentication). */
  avatarUrls: Record<string, string>;
  ignoredUsers: string[];

  toast(toast: Omit<Toast, "id">): void;
  dismissToast(id: number): void;
  setSessionExpired(value: { soft: boolean } | null): void;
  setSettingsOpen(open: boolean): void;
  /** Opens, changes or (null) closes the side panel; whether it is open is remembered. */
  setRightPanel(panel: RightPanel | null): void;
  setRoomSettingsRoomId(roomId: string | null): void;
  setSearchOpen(value: { roomId: string | null } | null): void;
  setJumpTarget(value: { roomId: string; eventId: string } | null): void;
  setAvatarUrls(urls: Record<string, string>): void;
  setIgnoredUsers(users: string[]): void;
  reset(): void;
}

let nextToastId = 1;

const initial = {
  toasts: [] as Toast[],
  sessionExpired: null,
  settingsOpen: false,
  rightPanel: null as RightPanel | null,
  roomSettingsRoomId: null,
  searchOpen: null,
  jumpTarget: null,
  avatarUrls: {},
  ignoredUsers: [] as string[],
};

export const useUiStore = create<UiState>()((set, get) => ({
  ...initial,
  rightPanel: rememberedPanel(),
  toast(toast) {
    const id = nextToastId++;
    // The same message twice in a row is one toast.
    const others = get().toasts.filter((t) => t.text !== toast.text);
    set({ toasts: [...others.slice(-3), { ...toast, id }] });
    if (toast.kind === "info") setTimeout(() => get().dismissToast(id), 5000);
  },
  dismissToast(id) {
    set({ toasts: get().toasts.filter((t) => t.id !== id) });
  },
  setSessionExpired(sessionExpired) {
    set({ sessionExpired });
  },
  setSettingsOpen(settingsOpen) {
    set({ settingsOpen });
  },
  setRightPanel(rightPanel) {
    set({ rightPanel });
    try {
      if (rightPanel) localStorage.setItem(PANEL_KEY, rightPanel.kind);
      else localStorage.removeItem(PANEL_KEY);
    } catch {
      /* storage unavailable: not remembered */
    }
  },
  setRoomSettingsRoomId(roomSettingsRoomId) {
    set({ roomSettingsRoomId });
  },
  setSearchOpen(searchOpen) {
    set({ searchOpen });
  },
  setJumpTarget(jumpTarget) {
    set({ jumpTarget });
  },
  setAvatarUrls(avatarUrls) {
    set({ avatarUrls });
  },
  setIgnoredUsers(ignoredUsers) {
    set({ ignoredUsers });
  },
  reset() {
    set({ ...initial, avatarUrls: {}, rightPanel: rememberedPanel() });
  },
}));

/** Shorthand for an error toast with a next step. */
export function toastError(text: string, action?: Toast["action"]): void {
  useUiStore.getState().toast({ kind: "error", text, action });
}
