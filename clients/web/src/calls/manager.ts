/**
 * 1:1 calls with matrix-js-sdk's MatrixCall (the spec's m.call.* events: invite, candidates, answer,
 * select_answer, negotiate, hangup, reject). A lazy chunk: loaded when a call is placed or rings.
 *
 * The SDK's CallEventHandler (running because the client supports VoIP, started after the first sync)
 * turns incoming m.call.* events into MatrixCall objects; it resolves glare (both sides call at once:
 * the call with the lower ID survives and is answered with the media already acquired) and ends a ringing
 * call answered on another of our devices. This module keeps the one current call, mirrors it into the
 * call store as plain data, rings, and measures quality from getStats.
 */
import {
  CallDirection,
  CallErrorCode,
  CallEvent,
  CallParty,
  CallState,
  createNewMatrixCall,
  type MatrixCall,
} from "matrix-js-sdk/lib/webrtc/call.js";
import { CallFeedEvent, type CallFeed } from "matrix-js-sdk/lib/webrtc/callFeed.js";
import { EventType, KnownMembership } from "matrix-js-sdk";
import { callEndedText, mediaErrorText } from "@/lib/call-messages";
import { classifyQuality, summarizeStats, type CallStatsSummary, type Stat } from "@/lib/call-quality";
import { useCallStore, type ActiveCall, type CallPhase } from "@/store/call";
import { useUiStore } from "@/store/ui";
import type { CallSummary } from "@/lib/call-history";
import { callSummariesIn } from "@/matrix/events";
import { getClient } from "@/matrix/session";
import { loadDevicePreferences } from "./devices";
import { startRinging, stopRinging } from "./ring";

let current: MatrixCall | null = null;
let detach: (() => void) | null = null;
let statsTimer: ReturnType<typeof setInterval> | null = null;
let previousStats: Stat[] | null = null;
/** When the user pressed "call" / "accept" (performance.now()), for the time-to-media measurement. */
let startedAt = 0;

/** The current call's SDK object (tests and the details panel read its peer connection). */
export function currentCall(): MatrixCall | null {
  return current;
}

/** The streams the call view draws. */
export function callMedia(): {
  local: MediaStream | null;
  remote: MediaStream | null;
  localScreen: MediaStream | null;
  remoteScreen: MediaStream | null;
} {
  return {
    local: current?.localUsermediaStream ?? null,
    remote: current?.remoteUsermediaStream ?? null,
    localScreen: current?.localScreensharingStream ?? null,
    remoteScreen: current?.remoteScreensharingStream ?? null,
  };
}

function peerOf(roomId: string): { userId: string; name: string } | null {
  const client = getClient();
  const room = client.getRoom(roomId);
  if (!room) return null;
  const me = client.getSafeUserId();
  const others = room
    .getMembers()
    .filter((m) => m.userId !== me && (m.membership === KnownMembership.Join || m.membership === KnownMembership.Invite));
  if (others.length !== 1) return null;
  return { userId: others[0].userId, name: others[0].name || others[0].userId };
}

function phaseOf(call: MatrixCall): CallPhase {
  switch (call.state) {
    case CallState.Ringing:
      return "ringing";
    case CallState.Connected:
      return "connected";
    case CallState.Ended:
      return "ended";
    case CallState.Connecting:
    case CallState.CreateAnswer:
      return "connecting";
    default:
      return call.direction === CallDirection.Inbound ? "connecting" : "calling";
  }
}

function remoteFeed(call: MatrixCall): CallFeed | undefined {
  return call.remoteUsermediaFeed;
}

function snapshot(call: MatrixCall): Partial<ActiveCall> {
  const remote = remoteFeed(call);
  return {
    callId: call.callId,
    phase: phaseOf(call),
    sdkState: call.state,
    micMuted: call.isMicrophoneMuted(),
    cameraOff: !call.hasLocalUserMediaVideoTrack || call.isLocalVideoMuted(),
    screensharing: call.isScreensharing(),
    remoteMicMuted: remote ? remote.isAudioMuted() : false,
    remoteCameraOff: remote ? remote.isVideoMuted() || !call.hasRemoteUserMediaVideoTrack : true,
    remoteHasVideo: call.hasRemoteUserMediaVideoTrack,
    remoteScreensharing: Boolean(call.remoteScreensharingStream),
    // Our hold of the other side is the SDK's "remote on hold"; theirs of us is "local on hold".
    onHold: call.isRemoteOnHold(),
    remoteOnHold: call.isLocalOnHold(),
  };
}

function refresh(): void {
  if (!current) return;
  useCallStore.getState().updateCall(snapshot(current));
}

function endedReason(call: MatrixCall, peerName: string, wasConnected: boolean): string | null {
  return callEndedText({
    reason: call.hangupReason,
    remote: call.hangupParty === CallParty.Remote,
    direction: call.direction === CallDirection.Inbound ? "incoming" : "outgoing",
    wasConnected,
    peerName,
  });
}

function track(call: MatrixCall, peer: { userId: string; name: string }): void {
  detach?.();
  current = call;
  previousStats = null;
  let wasConnected = call.state === CallState.Connected;
  const store = useCallStore.getState;
  const feedListeners = new Set<CallFeed>();
  const watchFeeds = () => {
    for (const feed of call.getFeeds()) {
      if (feedListeners.has(feed)) continue;
      feedListeners.add(feed);
      feed.on(CallFeedEvent.MuteStateChanged, refresh);
      feed.on(CallFeedEvent.NewStream, () => store().bumpMedia());
    }
  };
  const onState = (state: CallState) => {
    if (state === CallState.Connected && !wasConnected) {
      wasConnected = true;
      store().updateCall({ connectedAt: Date.now() });
      performance.mark("call-connected");
      (window as unknown as { __callConnectedMs?: number }).__callConnectedMs = Math.round(performance.now() - startedAt);
    }
    if (state !== CallState.Ringing) stopRinging();
    refresh();
  };
  const onFeeds = () => {
    watchFeeds();
    store().bumpMedia();
    refresh();
  };
  const onHangup = () => {
    if (current !== call) return;
    const text = endedReason(call, peer.name, wasConnected);
    finish();
    if (text) useUiStore.getState().toast({ kind: "info", text });
  };
  const onError = (error: { code?: string; message?: string }) => {
    console.warn("call error", error?.code, error?.message);
    if (error?.code === CallErrorCode.NoUserMedia) store().setError(explainMediaError(error));
  };
  const onReplaced = (newCall: MatrixCall) => {
    // Glare: the other side's call wins and is answered with our media; follow it.
    track(newCall, peer);
    store().updateCall({ callId: newCall.callId, direction: "incoming" });
    refresh();
  };
  const onPeerConnection = () => startStats();
  call.on(CallEvent.State, onState);
  call.on(CallEvent.FeedsChanged, onFeeds);
  call.on(CallEvent.Hangup, onHangup);
  call.on(CallEvent.Error, onError);
  call.on(CallEvent.Replaced, onReplaced);
  call.on(CallEvent.LocalHoldUnhold, refresh);
  call.on(CallEvent.RemoteHoldUnhold, refresh);
  call.on(CallEvent.PeerConnectionCreated, onPeerConnection);
  watchFeeds();
  if (call.peerConn) startStats();
  detach = () => {
    call.off(CallEvent.State, onState);
    call.off(CallEvent.FeedsChanged, onFeeds);
    call.off(CallEvent.Hangup, onHangup);
    call.off(CallEvent.Error, onError);
    call.off(CallEvent.Replaced, onReplaced);
    call.off(CallEvent.LocalHoldUnhold, refresh);
    call.off(CallEvent.RemoteHoldUnhold, refresh);
    call.off(CallEvent.PeerConnectionCreated, onPeerConnection);
    for (const feed of feedListeners) {
      feed.off(CallFeedEvent.MuteStateChanged, refresh);
    }
  };
}

function finish(): void {
  stopRinging();
  detach?.();
  detach = null;
  current = null;
  if (statsTimer) clearInterval(statsTimer);
  statsTimer = null;
  useCallStore.getState().setCall(null);
  useCallStore.getState().bumpMedia();
}

function baseCall(call: MatrixCall, roomId: string, peer: { userId: string; name: string }, direction: "incoming" | "outgoing", video: boolean): ActiveCall {
  return {
    callId: call.callId,
    roomId,
    peerUserId: peer.userId,
    peerName: peer.name,
    direction,
    video,
    phase: phaseOf(call),
    sdkState: call.state,
    connectedAt: null,
    micMuted: false,
    cameraOff: !video,
    screensharing: false,
    remoteMicMuted: false,
    remoteCameraOff: !video,
    remoteHasVideo: false,
    remoteScreensharing: false,
    onHold: false,
    remoteOnHold: false,
    endedReason: null,
  };
}

/** Explains a getUserMedia failure (the SDK wraps the browser's error in a CallError's `err`). */
export function explainMediaError(error: unknown): string {
  const inner = (error as { err?: { name?: string } })?.err ?? (error as { name?: string });
  return mediaErrorText(inner?.name, { secureContext: typeof window === "undefined" || window.isSecureContext });
}

function applyDevicePreferences(): void {
  const prefs = loadDevicePreferences();
  getClient().getMediaHandler().restoreMediaSettings(prefs.audioInput ?? "", prefs.videoInput ?? "");
}

/** Calls the other person of the DM `roomId`, with video or voice only. */
export async function placeCall(roomId: string, video: boolean): Promise<void> {
  const store = useCallStore.getState();
  if (current) {
    store.setViewOpen(true);
    return;
  }
  const peer = peerOf(roomId);
  if (!peer) {
    useUiStore.getState().toast({ kind: "error", text: "Calls are possible only in a conversation with one other person." });
    return;
  }
  const client = getClient();
  startedAt = performance.now();
  store.setError(null);
  applyDevicePreferences();
  // The call copies the TURN servers when it is created: make sure we have fresh ones.
  await client.checkTurnServers();
  const call = createNewMatrixCall(client, roomId, { invitee: peer.userId });
  if (!call) {
    useUiStore.getState().toast({ kind: "error", text: "This browser cannot make calls (no WebRTC)." });
    return;
  }
  store.setCall(baseCall(call, roomId, peer, "outgoing", video));
  track(call, peer); // the error listener must be there before placing the call
  try {
    if (video) await call.placeVideoCall();
    else await call.placeVoiceCall();
  } catch (error) {
    console.warn("placing the call failed", error);
  }
  refresh();
}

/**
 * What the room's timeline shows of this call (answered, ended...). The SDK's handler also sees
 * invites that reach the timeline late (history loaded when a conversation opens after a reload), and
 * would ring for them; the events that ended them may still be waiting for decryption, so those are
 * decrypted first (for at most two seconds).
 */
async function inviteSummary(call: MatrixCall): Promise<CallSummary | undefined> {
  const client = getClient();
  const room = client.getRoom(call.roomId);
  if (!room) return undefined;
  const events = room.getLiveTimeline().getEvents();
  const pending = events.filter((e) => e.getType() === EventType.RoomMessageEncrypted && !e.isDecryptionFailure());
  if (pending.length) {
    await Promise.race([
      Promise.all(pending.map((e) => client.decryptEventIfNeeded(e).catch(() => undefined))),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
  }
  return callSummariesIn(room.getLiveTimeline().getEvents()).get(call.callId);
}

/** When the invite of `call` was sent, from the room's timeline (0 if it is not there). */
function inviteTs(call: MatrixCall): number {
  const room = getClient().getRoom(call.roomId);
  return (room && callSummariesIn(room.getLiveTimeline().getEvents()).get(call.callId)?.startedTs) || 0;
}

/** The SDK's CallEventHandler found an incoming call (it is ringing). */
export async function onIncomingCall(call: MatrixCall): Promise<void> {
  if (call.state !== CallState.Ringing) return; // already over (answered elsewhere, hung up)
  if (call.groupCallId) return; // a peer of a group call: the group call code handles it
  const known = await inviteSummary(call);
  if (known && known.outcome !== "ringing") return;
  if (call.state !== CallState.Ringing) return;
  const peer = peerOf(call.roomId) ?? {
    userId: call.getOpponentMember()?.userId ?? "",
    name: call.getOpponentMember()?.name ?? "Someone",
  };
  if (current && current !== call) {
    // A newer invite in the same room while the older one still rings supersedes it (the older one
    // is over or was never meant: one person cannot call twice at once); it times out by itself.
    const ringingHere = current.state === CallState.Ringing && current.direction === CallDirection.Inbound && current.roomId === call.roomId;
    if (ringingHere && (known?.startedTs ?? 0) < inviteTs(current)) return; // an older invite: not the live one
    if (!ringingHere) {
      // One call at a time: tell the caller we are busy.
      call.hangup(CallErrorCode.UserBusy, false);
      return;
    }
    finish();
  }
  const video = call.type === "video" || call.hasRemoteUserMediaVideoTrack;
  useCallStore.getState().setError(null);
  useCallStore.getState().setCall(baseCall(call, call.roomId, peer, "incoming", video));
  track(call, peer);
  refresh();
  startRinging({ callId: call.callId, callerName: peer.name, video });
}

export async function answer(withVideo: boolean): Promise<void> {
  if (!current || current.state !== CallState.Ringing) return;
  startedAt = performance.now();
  stopRinging();
  applyDevicePreferences();
  await current.answer(true, withVideo && current.hasRemoteUserMediaVideoTrack);
  refresh();
}

export function decline(): void {
  if (!current) return;
  const call = current;
  if (call.state === CallState.Ringing) call.reject();
  else call.hangup(CallErrorCode.UserHangup, false);
}

export function hangup(): void {
  const call = current;
  if (!call) return;
  if (call.state === CallState.Ringing) call.reject();
  else call.hangup(CallErrorCode.UserHangup, false);
  if (current === call) finish(); // a call that had not sent its invite yet emits nothing
}

export async function setMicMuted(muted: boolean): Promise<void> {
  await current?.setMicrophoneMuted(muted);
  refresh();
}

export async function setCameraOff(off: boolean): Promise<void> {
  if (!current) return;
  // A voice call gets a camera track on first use (the SDK renegotiates).
  await current.setLocalVideoMuted(off);
  useCallStore.getState().bumpMedia();
  refresh();
}

export async function setScreensharing(on: boolean): Promise<boolean> {
  if (!current) return false;
  let ok = false;
  try {
    ok = await current.setScreensharingEnabled(on);
  } catch (error) {
    console.warn("screen sharing failed", error);
  }
  if (on && !ok) useUiStore.getState().toast({ kind: "error", text: "Screen sharing did not start (cancelled or not allowed)." });
  useCallStore.getState().bumpMedia();
  refresh();
  return ok;
}

export function setHold(onHold: boolean): void {
  current?.setRemoteOnHold(onHold);
  refresh();
}

/** Switches the microphone or camera during the call (and for later calls). */
export async function switchInput(kind: "audioinput" | "videoinput", deviceId: string): Promise<void> {
  const handler = getClient().getMediaHandler();
  if (kind === "audioinput") await handler.setAudioInput(deviceId);
  else await handler.setVideoInput(deviceId);
  useCallStore.getState().bumpMedia();
  refresh();
}

// -- quality ------------------------------------------------------------------------------------------

function startStats(): void {
  if (statsTimer) return;
  const tick = async () => {
    const pc = current?.peerConn;
    if (!pc) return;
    try {
      const report = await pc.getStats();
      const stats: Stat[] = [];
      report.forEach((s: Stat) => stats.push({ ...s }));
      const summary: CallStatsSummary = summarizeStats(stats, previousStats);
      previousStats = stats;
      const call = useCallStore.getState().call;
      const expectMedia = call?.phase === "connected" && !call.onHold && !call.remoteOnHold;
      useCallStore.getState().setQuality(classifyQuality(summary, { expectMedia }), summary);
    } catch {
      /* the connection closed meanwhile */
    }
  };
  statsTimer = setInterval(() => void tick(), 2000);
  void tick();
}

/** For the details panel: an immediate fresh reading. */
export async function readStatsNow(): Promise<CallStatsSummary | null> {
  const pc = current?.peerConn;
  if (!pc) return null;
  const report = await pc.getStats();
  const stats: Stat[] = [];
  report.forEach((s: Stat) => stats.push({ ...s }));
  return summarizeStats(stats, previousStats);
}
