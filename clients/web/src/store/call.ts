/**
 * The 1:1 call as plain data for the screens. The SDK side (src/calls/manager.ts, a lazy chunk) writes it;
 * the media streams themselves stay in the manager (`callMedia()`), `mediaVersion` says they changed.
 */
import { create } from "zustand";
import type { CallStatsSummary, Quality } from "@/lib/call-quality";

export type CallPhase =
  | "ringing" // incoming, not answered yet
  | "calling" // outgoing: getting media, sending the invite, waiting for an answer
  | "connecting" // answered, media not flowing yet
  | "connected"
  | "ended";

export interface ActiveCall {
  callId: string;
  roomId: string;
  peerUserId: string;
  peerName: string;
  direction: "incoming" | "outgoing";
  /** What the call was started as (an incoming invite that offers video is a video call). */
  video: boolean;
  phase: CallPhase;
  /** The SDK's own state name, for tests and the details panel. */
  sdkState: string;
  /** When media connected (ms since epoch), for the duration timer. */
  connectedAt: number | null;
  micMuted: boolean;
  cameraOff: boolean;
  screensharing: boolean;
  remoteMicMuted: boolean;
  remoteCameraOff: boolean;
  remoteHasVideo: boolean;
  remoteScreensharing: boolean;
  /** We put the call on hold / the other side did. */
  onHold: boolean;
  remoteOnHold: boolean;
  /** Why it ended, in words (null while running). */
  endedReason: string | null;
}

export interface CallState {
  call: ActiveCall | null;
  /** The full call view is shown (false: only the call bar, while the user is elsewhere). */
  viewOpen: boolean;
  /** Bumped whenever the call's media streams change. */
  mediaVersion: number;
  quality: Quality;
  stats: CallStatsSummary | null;
  /** An error to explain (no microphone, permission denied...). */
  error: string | null;

  setCall(call: ActiveCall | null): void;
  updateCall(patch: Partial<ActiveCall>): void;
  setViewOpen(open: boolean): void;
  bumpMedia(): void;
  setQuality(quality: Quality, stats: CallStatsSummary | null): void;
  setError(error: string | null): void;
}

export const useCallStore = create<CallState>((set) => ({
  call: null,
  viewOpen: true,
  mediaVersion: 0,
  quality: "unknown",
  stats: null,
  error: null,
  setCall: (call) => set({ call, viewOpen: true, quality: "unknown", stats: null }),
  updateCall: (patch) => set((s) => (s.call ? { call: { ...s.call, ...patch } } : {})),
  setViewOpen: (viewOpen) => set({ viewOpen }),
  bumpMedia: () => set((s) => ({ mediaVersion: s.mediaVersion + 1 })),
  setQuality: (quality, stats) => set({ quality, stats }),
  setError: (error) => set({ error }),
}));
