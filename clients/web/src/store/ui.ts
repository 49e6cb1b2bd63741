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

export interface UiState {
  toasts: Toast[];
  /** Set when the server says our access token is no longer valid; `soft` keeps local data. */
  sessionExpired: { soft: boolean } | null;
  settingsOpen: boolean;
  /** Which room's member list / settings / search is open (null: none). */
  memberListRoomId: string | null;
  roomSettingsRoomId: string | null;
  searchOpen: { roomId: string | null } | null;
  /** User or room ID -> an object URL of its avatar thumbnail (fetched with authentication). */
  avatarUrls: Record<string, string>;
  ignoredUsers: string[];

  toast(toast: Omit<Toast, "id">): void;
  dismissToast(id: number): void;
  setSessionExpired(value: { soft: boolean } | null): void;
  setSettingsOpen(open: boolean): void;
  setMemberListRoomId(roomId: string | null): void;
  setRoomSettingsRoomId(roomId: string | null): void;
  setSearchOpen(value: { roomId: string | null } | null): void;
  setAvatarUrls(urls: Record<string, string>): void;
  setIgnoredUsers(users: string[]): void;
  reset(): void;
}

let nextToastId = 1;

const initial = {
  toasts: [] as Toast[],
  sessionExpired: null,
  settingsOpen: false,
  memberListRoomId: null,
  roomSettingsRoomId: null,
  searchOpen: null,
  avatarUrls: {},
  ignoredUsers: [] as string[],
};

export const useUiStore = create<UiState>()((set, get) => ({
  ...initial,
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
  setMemberListRoomId(memberListRoomId) {
    set({ memberListRoomId });
  },
  setRoomSettingsRoomId(roomSettingsRoomId) {
    set({ roomSettingsRoomId });
  },
  setSearchOpen(searchOpen) {
    set({ searchOpen });
  },
  setAvatarUrls(avatarUrls) {
    set({ avatarUrls });
  },
  setIgnoredUsers(ignoredUsers) {
    set({ ignoredUsers });
  },
  reset() {
    set({ ...initial, avatarUrls: {} });
  },
}));

/** Shorthand for an error toast with a next step. */
export function toastError(text: string, action?: Toast["action"]): void {
  useUiStore.getState().toast({ kind: "error", text, action });
}
