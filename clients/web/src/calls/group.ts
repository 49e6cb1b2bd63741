/**
 * Group calls in a group room: matrix-js-sdk's mesh GroupCall (MSC3401: the `org.matrix.msc3401.call`
 * state event for the call, `org.matrix.msc3401.call.member` for who is in it, and one MatrixCall per
 * pair of devices, signalled with m.call.* to-device messages). The client runs with
 * `useE2eForGroupCall: false` (the SDK's encrypted to-device path does not work with Rust crypto), so the
 * call set-up travels unencrypted through the servers; the media stays DTLS-SRTP encrypted between the
 * devices. The user is told before joining. At most GROUP_CALL_LIMIT people (everyone sends to everyone).
 * A lazy chunk.
 */
import { EventType, type Room } from "matrix-js-sdk";
import { CallFeedEvent, type CallFeed } from "matrix-js-sdk/lib/webrtc/callFeed.js";
import { GroupCallEvent, GroupCallIntent, GroupCallType, type GroupCall } from "matrix-js-sdk/lib/webrtc/groupCall.js";
import { getClient } from "@/matrix/session";
import { GROUP_CALL_LIMIT, useCallStore, type GroupTile } from "@/store/call";
import { useUiStore } from "@/store/ui";
import { loadDevicePreferences } from "./devices";

const CALL_EVENT = "org.matrix.msc3401.call";
const MEMBER_EVENT = "org.matrix.msc3401.call.member";

let current: GroupCall | null = null;
let detach: (() => void) | null = null;

export function currentGroupCall(): GroupCall | null {
  return current;
}

/** The streams of the grid, by tile key. */
export function groupStreams(): Map<string, MediaStream> {
  const out = new Map<string, MediaStream>();
  if (!current) return out;
  for (const feed of current.userMediaFeeds) out.set(keyOf(feed), feed.stream);
  for (const feed of current.screenshareFeeds) out.set(keyOf(feed), feed.stream);
  return out;
}

function keyOf(feed: CallFeed): string {
  return `${feed.userId}|${feed.deviceId ?? ""}|${feed.purpose}`;
}

function participantCount(call: GroupCall): number {
  let n = 0;
  for (const devices of call.participants.values()) n += devices.size;
  return n;
}

/**
 * Members need to be allowed to send the call's member state event (power level 0); an admin starting
 * the first call in an older group sets it.
 */
async function ensureCallPowerLevels(room: Room): Promise<void> {
  const client = getClient();
  const event = room.currentState.getStateEvents(EventType.RoomPowerLevels, "");
  const content = { ...(event?.getContent() ?? {}) } as { events?: Record<string, number>; state_default?: number };
  const events = { ...(content.events ?? {}) };
  if (events[MEMBER_EVENT] === 0 && events[CALL_EVENT] === 0) return;
  if (!room.currentState.maySendStateEvent(EventType.RoomPowerLevels, client.getSafeUserId())) return;
  events[MEMBER_EVENT] = 0;
  events[CALL_EVENT] = 0;
  await client.sendStateEvent(room.roomId, EventType.RoomPowerLevels, { ...content, events } as never, "");
}

function tilesOf(call: GroupCall): GroupTile[] {
  const client = getClient();
  const me = client.getSafeUserId();
  const speaker = call.activeSpeaker;
  const name = (userId: string) => call.room.getMember(userId)?.name ?? userId;
  const tiles: GroupTile[] = [];
  for (const feed of call.userMediaFeeds) {
    tiles.push({
      key: keyOf(feed),
      userId: feed.userId,
      name: name(feed.userId),
      isLocal: feed.isLocal(),
      audioMuted: feed.isAudioMuted(),
      videoMuted: feed.isVideoMuted() || feed.stream.getVideoTracks().length === 0,
      speaking: speaker === feed && call.userMediaFeeds.length > 1,
      screenshare: false,
    });
  }
  for (const feed of call.screenshareFeeds) {
    tiles.push({
      key: keyOf(feed),
      userId: feed.userId,
      name: `${feed.userId === me ? "Your" : `${name(feed.userId)}'s`} screen`,
      isLocal: feed.isLocal(),
      audioMuted: true,
      videoMuted: false,
      speaking: false,
      screenshare: true,
    });
  }
  return tiles;
}

function refresh(): void {
  const call = current;
  if (!call) return;
  useCallStore.getState().updateGroup({
    micMuted: call.isMicrophoneMuted(),
    cameraOff: call.isLocalVideoMuted(),
    screensharing: call.isScreensharing(),
    tiles: tilesOf(call),
  });
  useCallStore.getState().bumpMedia();
}

function track(call: GroupCall): void {
  detach?.();
  current = call;
  const feeds = new Set<CallFeed>();
  const watchFeeds = () => {
    for (const feed of [...call.userMediaFeeds, ...call.screenshareFeeds]) {
      if (feeds.has(feed)) continue;
      feeds.add(feed);
      feed.on(CallFeedEvent.MuteStateChanged, refresh);
      feed.on(CallFeedEvent.NewStream, refresh);
    }
    refresh();
  };
  const onError = (error: { code?: string; message?: string }) => {
    console.warn("group call error", error?.code, error?.message);
  };
  call.on(GroupCallEvent.UserMediaFeedsChanged, watchFeeds);
  call.on(GroupCallEvent.ScreenshareFeedsChanged, watchFeeds);
  call.on(GroupCallEvent.ActiveSpeakerChanged, refresh);
  call.on(GroupCallEvent.LocalMuteStateChanged, refresh);
  call.on(GroupCallEvent.LocalScreenshareStateChanged, refresh);
  call.on(GroupCallEvent.ParticipantsChanged, refresh);
  call.on(GroupCallEvent.Error, onError);
  watchFeeds();
  detach = () => {
    call.off(GroupCallEvent.UserMediaFeedsChanged, watchFeeds);
    call.off(GroupCallEvent.ScreenshareFeedsChanged, watchFeeds);
    call.off(GroupCallEvent.ActiveSpeakerChanged, refresh);
    call.off(GroupCallEvent.LocalMuteStateChanged, refresh);
    call.off(GroupCallEvent.LocalScreenshareStateChanged, refresh);
    call.off(GroupCallEvent.ParticipantsChanged, refresh);
    call.off(GroupCallEvent.Error, onError);
    for (const feed of feeds) {
      feed.off(CallFeedEvent.MuteStateChanged, refresh);
      feed.off(CallFeedEvent.NewStream, refresh);
    }
  };
}

/** Joins the room's group call, starting one if there is none. */
export async function joinGroupCall(roomId: string, video: boolean): Promise<void> {
  const store = useCallStore.getState();
  if (current || store.call) {
    useUiStore.getState().toast({ kind: "error", text: "Leave the call you are in first." });
    return;
  }
  const client = getClient();
  const room = client.getRoom(roomId);
  if (!room) return;
  const prefs = loadDevicePreferences();
  client.getMediaHandler().restoreMediaSettings(prefs.audioInput ?? "", prefs.videoInput ?? "");
  await client.checkTurnServers();
  await client.waitUntilRoomReadyForGroupCalls(roomId);
  let call = client.getGroupCallForRoom(roomId);
  if (call && participantCount(call) >= GROUP_CALL_LIMIT) {
    useUiStore.getState().toast({ kind: "error", text: `This call is full: group calls here take at most ${GROUP_CALL_LIMIT} people.` });
    return;
  }
  if (!call) {
    await ensureCallPowerLevels(room);
    call = await client.createGroupCall(roomId, video ? GroupCallType.Video : GroupCallType.Voice, false, GroupCallIntent.Room);
  }
  store.setGroup({
    roomId,
    roomName: room.name,
    video: call.type === GroupCallType.Video,
    micMuted: false,
    cameraOff: !video,
    screensharing: false,
    tiles: [],
  });
  track(call);
  try {
    await call.enter();
    // Joined with voice only in a video call: the camera stays off.
    if (!video && call.type === GroupCallType.Video) await call.setLocalVideoMuted(true);
  } catch (error) {
    console.error("Could not join the group call", error);
    finish();
    useUiStore.getState().toast({
      kind: "error",
      text: "Could not join the call: the microphone or camera could not be used (see Settings → Calls).",
    });
    return;
  }
  refresh();
}

function finish(): void {
  detach?.();
  detach = null;
  current = null;
  useCallStore.getState().setGroup(null);
  useCallStore.getState().bumpMedia();
}

/** Leaves the group call; the last one out ends it (the room then shows no call). */
export async function leaveGroupCall(): Promise<void> {
  const call = current;
  if (!call) return;
  const me = getClient().getSafeUserId();
  const others = [...call.participants.keys()].filter((m) => m.userId !== me).length;
  finish();
  if (others === 0) await call.terminate();
  else call.leave();
}

export async function setGroupMicMuted(muted: boolean): Promise<void> {
  await current?.setMicrophoneMuted(muted);
  refresh();
}

export async function setGroupCameraOff(off: boolean): Promise<void> {
  await current?.setLocalVideoMuted(off);
  refresh();
}

export async function setGroupScreensharing(on: boolean): Promise<void> {
  if (!current) return;
  try {
    await current.setScreensharingEnabled(on);
  } catch (error) {
    console.warn("screen sharing failed", error);
  }
  refresh();
}
