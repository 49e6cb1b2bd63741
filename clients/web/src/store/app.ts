/**
 * The app's state as plain data (no SDK objects), so components re-render from it and tests can drive it.
 * The Matrix session (src/matrix/) writes into it; components read from it and call the session's actions.
 */
import { create } from "zustand";
import type { RoomSummary } from "@/lib/rooms";
import { applyTheme, loadTheme, saveTheme, type ThemePreference } from "@/lib/theme";

export type AppStatus = "booting" | "logged-out" | "starting" | "ready";

export type CryptoStatus =
  | "off" // not started yet
  | "checking"
  | "ready" // cross-signing and key backup in place
  | "needs-recovery-key" // the account has encryption set up elsewhere: enter the recovery key
  | "needs-verification" // set up elsewhere without a recovery key: verify with another session, or reset
  | "needs-recovery-setup" // this device is verified, but no recovery key / backup exists yet: offer one
  | "needs-setup" // setting up failed or needs the account password
  | "unavailable"; // the crypto module could not start in this browser

export interface SessionInfo {
  userId: string;
  deviceId: string;
  homeserverUrl: string;
}

export interface AppState {
  status: AppStatus;
  session: SessionInfo | null;
  theme: ThemePreference;
  rooms: RoomSummary[];
  selectedRoomId: string | null;
  /** The SDK's sync state (PREPARED, SYNCING, ERROR, RECONNECTING...), for the connection banner. */
  syncState: string | null;
  crypto: { status: CryptoStatus; message?: string };
  /**
   * A new recovery key shown to the user. Nothing is stored with it until they confirm they saved it
   * (then secret storage and the key backup are made); closing the page before that loses nothing.
   */
  recoveryKey: string | null;
  /** Whether `POST /user_directory/search` works here; null until first tried. */
  userDirectoryAvailable: boolean | null;

  setTheme(theme: ThemePreference): void;
  setStatus(status: AppStatus, session?: SessionInfo | null): void;
  setRooms(rooms: RoomSummary[]): void;
  selectRoom(roomId: string | null): void;
  setSyncState(state: string | null): void;
  setCrypto(status: CryptoStatus, message?: string): void;
  setRecoveryKey(key: string | null): void;
  setUserDirectoryAvailable(available: boolean): void;
  reset(): void;
}

const storage = (): Storage | undefined => (typeof localStorage === "undefined" ? undefined : localStorage);

const sessionless = {
  session: null,
  rooms: [],
  selectedRoomId: null,
  syncState: null,
  crypto: { status: "off" as CryptoStatus },
  recoveryKey: null,
  userDirectoryAvailable: null,
};

export const useAppStore = create<AppState>()((set, get) => ({
  status: "booting",
  theme: storage() ? loadTheme(storage()!) : "system",
  ...sessionless,

  setTheme(theme) {
    const s = storage();
    if (s) saveTheme(s, theme);
    applyTheme(theme);
    set({ theme });
  },
  setStatus(status, session) {
    set(session === undefined ? { status } : { status, session });
  },
  setRooms(rooms) {
    const selected = get().selectedRoomId;
    // A room we left (or whose invitation we declined) cannot stay open.
    const stillThere = selected === null || rooms.some((r) => r.roomId === selected);
    set(stillThere ? { rooms } : { rooms, selectedRoomId: null });
  },
  selectRoom(roomId) {
    set({ selectedRoomId: roomId });
  },
  setSyncState(syncState) {
    set({ syncState });
  },
  setCrypto(status, message) {
    set({ crypto: { status, message } });
  },
  setRecoveryKey(recoveryKey) {
    set({ recoveryKey });
  },
  setUserDirectoryAvailable(userDirectoryAvailable) {
    set({ userDirectoryAvailable });
  },
  reset() {
    set({ ...sessionless, status: "logged-out" });
  },
}));
