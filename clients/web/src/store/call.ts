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

/** A tile of the group call grid: one participant's camera (or avatar), or a shared screen. */
export interface GroupTile {
  key: string;
  userId: string;
  name: string;
  isLocal: boolean;
  audioMuted: boolean;
  videoMuted: boolean;
  speaking: boolean;
  screenshare: boolean;
}

export interface ActiveGroupCall {
  roomId: string;
  roomName: string;
  video: boolean;
  micMuted: boolean;
  cameraOff: boolean;
  screensharing: boolean;
  tiles: GroupTile[];
}

/** The most people a mesh group call takes (everyone sends to everyone). */
export const GROUP_CALL_LIMIT = 6;

export interface CallState {
  call: ActiveCall | null;
  /** The group call we are in (mesh, MSC3401), or null. */
  group: ActiveGroupCall | null;
  /** "Join / start the group call?" asked for this room (the notice about unencrypted signalling). */
  groupPrompt: { roomId: string; roomName: string; starting: boolean } | null;
  /** Rooms with a group call going on, and who is in it (user IDs and names), from the room state. */
  roomCalls: Record<string, { video: boolean; participants: { userId: string; name: string }[] }>;
  /** The full call view is shown (false: only the call bar, while the user is elsewhere). */
  viewOpen: boolean;
  /** Bumped whenever the call's media streams change. */
  mediaVersion: number;
  quality: Quality;
  stats: CallStatsSummary | null;
  /** An error to explain (no microphone, permission denied...). */
  error: string | null;

  setCall(call: ActiveCall | null): void;
  setGroup(group: ActiveGroupCall | null): void;
  updateGroup(patch: Partial<ActiveGroupCall>): void;
  setGroupPrompt(prompt: CallState["groupPrompt"]): void;
  setRoomCall(roomId: string, info: CallState["roomCalls"][string] | null): void;
  updateCall(patch: Partial<ActiveCall>): void;
  setViewOpen(open: boolean): void;
  bumpMedia(): void;
  setQuality(quality: Quality, stats: CallStatsSummary | null): void;
  setError(error: string | null): void;
}

export const useCallStore = create<CallState>((set) => ({
  call: null,
  group: null,
  groupPrompt: null,
  roomCalls: {},
  viewOpen: true,
  mediaVersion: 0,
  quality: "unknown",
  stats: null,
  error: null,
  setCall: (call) => set({ call, viewOpen: true, quality: "unknown", stats: null }),
  setGroup: (group) => set({ group, viewOpen: true }),
  updateGroup: (patch) => set((s) => (s.group ? { group: { ...s.group, ...patch } } : {})),
  setGroupPrompt: (groupPrompt) => set({ groupPrompt }),
  setRoomCall: (roomId, info) =>
    set((s) => {
      const roomCalls = { ...s.roomCalls };
      if (info && info.participants.length > 0) roomCalls[roomId] = info;
      else delete roomCalls[roomId];
      return { roomCalls };
    }),
  updateCall: (patch) => set((s) => (s.call ? { call: { ...s.call, ...patch } } : {})),
  setViewOpen: (viewOpen) => set({ viewOpen }),
  bumpMedia: () => set((s) => ({ mediaVersion: s.mediaVersion + 1 })),
  setQuality: (quality, stats) => set({ quality, stats }),
  setError: (error) => set({ error }),
}));
