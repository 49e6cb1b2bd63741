/**
 * Profile, devices, ignoring people, room settings, search and desktop notifications: the SDK side of
 * the settings / room settings / search screens (the member panel's is `members.ts`). Plain data out,
 * actions in.
 */
import {
  ClientEvent,
  EventType,
  KnownMembership,
  MatrixEventEvent,
  RoomEvent,
  RoomStateEvent,
  UserEvent,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from "matrix-js-sdk";
import { mergeHits, searchLocally, type SearchableMessage, type SearchHit } from "@/lib/search";
import { useUiStore } from "@/store/ui";
import { uploadSizeProblem } from "@/lib/attachments";
import { forgetAvatarRequests, isAvatarRequested, onAvatarRequested } from "@/lib/avatar-requests";
import { avatarThumbnail, forgetMediaCaches, knownAvatars, uploadLimit } from "./media";
import { attachRemovalNotices } from "./members";
import { getClient } from "./session";

// -- user-interactive auth with the account password -----------------------------------------------

/** Runs a request that may need user-interactive auth; answers the password stage. */
export async function withPasswordAuth<T>(request: (auth?: Record<string, unknown>) => Promise<T>, password: string): Promise<T> {
  try {
    return await request(undefined);
  } catch (error) {
    const e = error as { httpStatus?: number; data?: { session?: string; flows?: unknown } };
    if (e.httpStatus !== 401 || !e.data?.flows) throw error;
    return request({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: getClient().getSafeUserId() },
      password,
      session: e.data.session,
    });
  }
}

// -- e-mail addresses ------------------------------------------------------------------------------

export async function listEmails(): Promise<string[]> {
  const { threepids } = await getClient().getThreePids();
  return threepids.filter((t) => t.medium === "email").map((t) => t.address);
}

/** Asks the server to mail a confirmation link to `address`; pass the result to `confirmEmail`. */
export async function requestEmail(address: string): Promise<{ sid: string; clientSecret: string }> {
  const client = getClient();
  const clientSecret = client.generateClientSecret();
  const { sid } = await client.requestAdd3pidEmailToken(address, clientSecret, 1);
  return { sid, clientSecret };
}

/** After the link was opened: adds the address to the account (the password confirms it is you). */
export async function confirmEmail(pending: { sid: string; clientSecret: string }, password: string): Promise<void> {
  await withPasswordAuth(
    (auth) =>
      getClient().addThreePidOnly({
        sid: pending.sid,
        client_secret: pending.clientSecret,
        ...(auth ? { auth: auth as { type: string; session?: string } } : {}),
      }),
    password,
  );
}

export async function removeEmail(address: string): Promise<void> {
  await getClient().deleteThreePid("email", address);
}

// -- profile ---------------------------------------------------------------------------------------

export interface Profile {
  displayName: string;
  avatarMxc: string | null;
}

export async function loadProfile(): Promise<Profile> {
  const c = getClient();
  const p = await c.getProfileInfo(c.getSafeUserId());
  return { displayName: p.displayname ?? "", avatarMxc: p.avatar_url ?? null };
}

export async function setDisplayName(name: string): Promise<void> {
  await getClient().setDisplayName(name.trim());
}

export async function setAvatar(file: File, onProgress?: (f: number) => void): Promise<string> {
  const c = getClient();
  const problem = uploadSizeProblem(file.name, file.size, await uploadLimit());
  if (problem) throw new Error(problem);
  const { content_uri } = await c.uploadContent(file, {
    type: file.type,
    name: file.name,
    progressHandler: ({ loaded, total }) => onProgress?.(total ? loaded / total : 0),
  });
  await c.setAvatarUrl(content_uri);
  scheduleAvatarRefresh();
  return content_uri;
}

// -- devices ---------------------------------------------------------------------------------------

export interface DeviceSummary {
  deviceId: string;
  displayName: string;
  lastSeenTs?: number;
  lastSeenIp?: string;
  verified: boolean | null;
  current: boolean;
}

export async function listDevices(): Promise<DeviceSummary[]> {
  const c = getClient();
  const crypto = c.getCrypto();
  const me = c.getSafeUserId();
  const { devices } = await c.getDevices();
  const out = await Promise.all(
    devices.map(async (d) => {
      let verified: boolean | null = null;
      try {
        const status = await crypto?.getDeviceVerificationStatus(me, d.device_id);
        verified = status ? status.crossSigningVerified : null;
      } catch {
        verified = null;
      }
      return {
        deviceId: d.device_id,
        displayName: d.display_name ?? d.device_id,
        lastSeenTs: d.last_seen_ts ?? undefined,
        lastSeenIp: d.last_seen_ip ?? undefined,
        verified,
        current: d.device_id === c.getDeviceId(),
      };
    }),
  );
  return out.sort((a, b) => Number(b.current) - Number(a.current) || (b.lastSeenTs ?? 0) - (a.lastSeenTs ?? 0));
}

export async function renameDevice(deviceId: string, name: string): Promise<void> {
  await getClient().setDeviceDetails(deviceId, { display_name: name.trim() });
}

export async function signOutDevice(deviceId: string, password: string): Promise<void> {
  const c = getClient();
  await withPasswordAuth((auth) => c.deleteDevice(deviceId, auth as never), password);
}

// -- ignoring people -------------------------------------------------------------------------------

export async function ignoreUser(userId: string): Promise<void> {
  const c = getClient();
  const list = new Set(c.getIgnoredUsers());
  list.add(userId);
  await c.setIgnoredUsers([...list]);
  useUiStore.getState().setIgnoredUsers([...list]);
}

export async function unignoreUser(userId: string): Promise<void> {
  const c = getClient();
  const list = c.getIgnoredUsers().filter((u) => u !== userId);
  await c.setIgnoredUsers(list);
  useUiStore.getState().setIgnoredUsers(list);
}

// -- rooms -----------------------------------------------------------------------------------------

export interface RoomDetails {
  name: string;
  topic: string;
  avatarMxc: string | null;
  encrypted: boolean;
  canEdit: { name: boolean; topic: boolean; avatar: boolean; invite: boolean };
}

export function roomDetails(roomId: string): RoomDetails | null {
  const c = getClient();
  const room = c.getRoom(roomId);
  if (!room) return null;
  const state = room.currentState;
  const me = c.getSafeUserId();
  const may = (type: string) => state.maySendStateEvent(type, me);
  return {
    name: state.getStateEvents(EventType.RoomName, "")?.getContent().name ?? "",
    topic: state.getStateEvents(EventType.RoomTopic, "")?.getContent().topic ?? "",
    avatarMxc: room.getMxcAvatarUrl(),
    encrypted: room.hasEncryptionStateEvent(),
    canEdit: {
      name: may(EventType.RoomName),
      topic: may(EventType.RoomTopic),
      avatar: may(EventType.RoomAvatar),
      invite: room.canInvite(me),
    },
  };
}

export async function saveRoomDetails(roomId: string, before: RoomDetails, name: string, topic: string): Promise<void> {
  const c = getClient();
  if (name.trim() !== before.name) await c.setRoomName(roomId, name.trim());
  if (topic.trim() !== before.topic) await c.setRoomTopic(roomId, topic.trim());
}

export async function setRoomAvatar(roomId: string, file: File): Promise<void> {
  const c = getClient();
  const { content_uri } = await c.uploadContent(file, { type: file.type, name: file.name });
  await c.sendStateEvent(roomId, EventType.RoomAvatar, { url: content_uri }, "");
  scheduleAvatarRefresh();
}

export async function inviteUser(roomId: string, userId: string): Promise<void> {
  await getClient().invite(roomId, userId.trim());
}

export async function leaveRoom(roomId: string): Promise<void> {
  await getClient().leave(roomId);
}

// -- search ----------------------------------------------------------------------------------------

export interface SearchOutcome {
  hits: SearchHit[];
  /** Encrypted rooms that were searched on this device only. */
  encryptedRooms: number;
  localMessages: number;
  /** Why the server search failed, if it did (local results are still shown). */
  serverError?: string;
}

function localMessages(room: Room): SearchableMessage[] {
  const out: SearchableMessage[] = [];
  for (const timeline of room.getTimelineSets()[0]?.getTimelines() ?? [room.getLiveTimeline()]) {
    for (const event of timeline.getEvents()) {
      if (event.getType() !== EventType.RoomMessage || event.isRedacted() || event.isDecryptionFailure()) continue;
      const body = event.getContent().body;
      if (typeof body !== "string" || !event.getId()) continue;
      const sender = event.getSender() ?? "";
      out.push({
        eventId: event.getId()!,
        roomId: room.roomId,
        sender,
        senderName: room.getMember(sender)?.name ?? sender,
        ts: event.getTs(),
        body,
      });
    }
  }
  return out;
}

/**
 * Unencrypted rooms: the server's `/search`. Encrypted rooms: the messages this device has decrypted
 * (the server only has ciphertext), and the outcome says so.
 */
export async function searchMessages(term: string, roomId: string | null): Promise<SearchOutcome> {
  const c = getClient();
  const rooms = (roomId ? [c.getRoom(roomId)] : c.getRooms()).filter(
    (r): r is Room => !!r && r.getMyMembership() === KnownMembership.Join,
  );
  const encrypted = rooms.filter((r) => r.hasEncryptionStateEvent());
  const plain = rooms.filter((r) => !r.hasEncryptionStateEvent());
  const local = encrypted.flatMap(localMessages);
  const localHits = searchLocally(local, term);
  let serverHits: SearchHit[] = [];
  let serverError: string | undefined;
  if (plain.length > 0) {
    try {
      const response = await c.search({
        body: {
          search_categories: {
            room_events: {
              search_term: term,
              keys: ["content.body"],
              filter: { rooms: plain.map((r) => r.roomId), limit: 50 },
              order_by: "recent" as never,
            },
          },
        },
      });
      const results = response.search_categories.room_events.results ?? [];
      serverHits = results.map(({ result }) => {
        const body = String(result.content?.body ?? "");
        const at = body.toLowerCase().indexOf(term.trim().toLowerCase().split(/\s+/)[0] ?? "");
        const room = c.getRoom(result.room_id);
        return {
          eventId: result.event_id,
          roomId: result.room_id,
          sender: result.sender,
          senderName: room?.getMember(result.sender)?.name ?? result.sender,
          ts: result.origin_server_ts,
          body,
          start: Math.max(0, at),
          length: at >= 0 ? (term.trim().split(/\s+/)[0] ?? "").length : 0,
          source: "server" as const,
        };
      });
    } catch (error) {
      serverError = (error as { data?: { error?: string }; message?: string }).data?.error ?? (error as Error).message;
    }
  }
  const ignored = new Set(c.getIgnoredUsers());
  return {
    hits: mergeHits(serverHits, localHits).filter((h) => !ignored.has(h.sender)),
    encryptedRooms: encrypted.length,
    localMessages: local.length,
    serverError,
  };
}

export function roomName(roomId: string): string {
  return getClient().getRoom(roomId)?.name ?? roomId;
}

// -- notifications ---------------------------------------------------------------------------------

const NOTIFY_KEY = "hs.notifications";

export function notificationsWanted(): boolean {
  return typeof localStorage !== "undefined" && localStorage.getItem(NOTIFY_KEY) === "on";
}

export async function enableNotifications(on: boolean): Promise<NotificationPermission | "unsupported"> {
  if (typeof Notification === "undefined") return "unsupported";
  if (!on) {
    localStorage.setItem(NOTIFY_KEY, "off");
    return Notification.permission;
  }
  const permission = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
  localStorage.setItem(NOTIFY_KEY, permission === "granted" ? "on" : "off");
  return permission;
}

function maybeNotify(c: MatrixClient, event: MatrixEvent, room: Room): void {
  if (!notificationsWanted() || typeof Notification === "undefined" || Notification.permission !== "granted") return;
  if (!document.hidden) return;
  if (event.getSender() === c.getSafeUserId() || c.isUserIgnored(event.getSender() ?? "")) return;
  if (event.getType() !== EventType.RoomMessage) return;
  const content = event.getContent();
  const sender = room.getMember(event.getSender() ?? "")?.name ?? event.getSender();
  const body = typeof content.body === "string" ? content.body : "New message";
  const notification = new Notification(room.name === sender ? sender! : `${sender} in ${room.name}`, {
    body: body.length > 140 ? `${body.slice(0, 140)}…` : body,
    tag: room.roomId,
  });
  notification.onclick = () => {
    window.focus();
    notification.close();
  };
}

// -- listeners started with the client -------------------------------------------------------------

let avatarTimer: ReturnType<typeof setTimeout> | null = null;

/** Recomputes which avatars are known and on screen, and fetches their thumbnails (once per burst of changes). */
export function scheduleAvatarRefresh(): void {
  if (avatarTimer) return;
  avatarTimer = setTimeout(() => {
    avatarTimer = null;
    void refreshAvatars();
  }, 300);
}

async function refreshAvatars(): Promise<void> {
  let c: MatrixClient;
  try {
    c = getClient();
  } catch {
    return;
  }
  const known = [...knownAvatars(c)].filter(([id]) => isAvatarRequested(id));
  const entries = await Promise.all(known.map(async ([id, mxc]) => [id, await avatarThumbnail(mxc)] as const));
  const urls: Record<string, string> = {};
  for (const [id, url] of entries) if (url) urls[id] = url;
  const current = useUiStore.getState().avatarUrls;
  const same = Object.keys(urls).length === Object.keys(current).length && Object.entries(urls).every(([k, v]) => current[k] === v);
  if (!same) useUiStore.getState().setAvatarUrls(urls);
}

let stopAvatarRequests: (() => void) | null = null;

/** Called once when the client starts: avatars, the ignore list, desktop notifications. */
export function attachAccountListeners(c: MatrixClient): void {
  useUiStore.getState().reset();
  stopAvatarRequests?.();
  stopAvatarRequests = onAvatarRequested(scheduleAvatarRefresh);
  attachRemovalNotices(c);
  c.on(ClientEvent.Sync, scheduleAvatarRefresh);
  c.on(RoomStateEvent.Events, (event: MatrixEvent) => {
    if (event.getType() === EventType.RoomMember || event.getType() === EventType.RoomAvatar) scheduleAvatarRefresh();
  });
  c.on(UserEvent.AvatarUrl, scheduleAvatarRefresh);
  c.on(ClientEvent.AccountData, (event: MatrixEvent) => {
    if (event.getType() === "m.ignored_user_list") useUiStore.getState().setIgnoredUsers(c.getIgnoredUsers());
  });
  c.on(RoomEvent.Timeline, (event, room, toStartOfTimeline, _removed, data) => {
    if (toStartOfTimeline || !room || !data?.liveEvent) return;
    if (event.isEncrypted() && event.getType() === EventType.RoomMessageEncrypted) {
      event.once(MatrixEventEvent.Decrypted, () => maybeNotify(c, event, room));
    } else {
      maybeNotify(c, event, room);
    }
  });
}

export function detachAccountState(): void {
  forgetMediaCaches();
  forgetAvatarRequests();
  useUiStore.getState().reset();
}
