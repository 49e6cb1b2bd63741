/**
 * The SDK side of the member panel: a room's members (loaded lazily: the sync sends only the members
 * it needs, `loadMembersIfNeeded` fetches the rest when the panel opens), one member's details and
 * what we may do to them, their devices and verification, and the actions (remove, ban, power level).
 * Plain data out, actions in.
 */
import {
  ClientEvent,
  EventType,
  KnownMembership,
  RoomEvent,
  RoomMemberEvent,
  UserEvent,
  type MatrixClient,
  type MatrixEvent,
  type Room,
  type RoomMember,
} from "matrix-js-sdk";
import { memberPermissions, removalNotice, requiredLevels, type MemberPermissions } from "@/lib/members";
import { useUiStore } from "@/store/ui";
import { normalizePresence, type MemberSummary } from "@/lib/presence";
import { getClient, startDirectMessage } from "./session";

/** Fetches the full member list once (lazy-loaded members); later calls resolve at once. */
export async function loadMembers(roomId: string): Promise<void> {
  await getClient().getRoom(roomId)?.loadMembersIfNeeded();
}

function summarize(member: RoomMember, ignored: Set<string>): MemberSummary {
  const user = getClient().getUser(member.userId);
  const lastActiveTs = user?.getLastActiveTs() ?? 0;
  return {
    userId: member.userId,
    name: member.name,
    membership: member.membership ?? KnownMembership.Leave,
    presence: normalizePresence(user?.presence),
    lastActiveAgo: lastActiveTs > 0 ? Math.max(0, Date.now() - lastActiveTs) : undefined,
    powerLevel: member.powerLevel,
    ignored: ignored.has(member.userId),
  };
}

/** Everyone joined or invited, unsorted (see `groupMembers`). */
export function memberSummaries(roomId: string): MemberSummary[] {
  const c = getClient();
  const room = c.getRoom(roomId);
  if (!room) return [];
  const ignored = new Set(c.getIgnoredUsers());
  return room
    .getMembers()
    .filter((m) => m.membership === KnownMembership.Join || m.membership === KnownMembership.Invite)
    .map((m) => summarize(m, ignored));
}

export interface MemberDetails extends MemberSummary {
  isMe: boolean;
  /** What we may do to them in this room. */
  can: MemberPermissions;
}

/** One member as the profile shows them; null when the room does not know them. */
export function memberDetails(roomId: string, userId: string): MemberDetails | null {
  const c = getClient();
  const room = c.getRoom(roomId);
  const member = room?.getMember(userId);
  if (!room || !member) return null;
  const me = c.getSafeUserId();
  const summary = summarize(member, new Set(c.getIgnoredUsers()));
  const powerLevels = room.currentState.getStateEvents(EventType.RoomPowerLevels, "")?.getContent();
  return {
    ...summary,
    isMe: userId === me,
    can: memberPermissions({
      isMe: userId === me,
      myLevel: room.getMember(me)?.powerLevel ?? 0,
      theirLevel: member.powerLevel,
      membership: summary.membership,
      required: requiredLevels(powerLevels),
    }),
  };
}

/** Calls back (at most once per frame) whenever members, power levels, presence or the ignore list may have changed. */
export function watchMembers(roomId: string, changed: () => void): () => void {
  const c = getClient();
  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => ((frame = 0), changed()));
  };
  const onMember = (_e: MatrixEvent, member?: { roomId: string }) => {
    if (!member || member.roomId === roomId) schedule();
  };
  const memberEvents = [RoomMemberEvent.Membership, RoomMemberEvent.Name, RoomMemberEvent.PowerLevel] as const;
  const userEvents = [UserEvent.Presence, UserEvent.CurrentlyActive, UserEvent.LastPresenceTs] as const;
  for (const e of memberEvents) c.on(e, onMember as never);
  for (const e of userEvents) c.on(e, schedule);
  c.on(ClientEvent.AccountData, schedule);
  return () => {
    cancelAnimationFrame(frame);
    for (const e of memberEvents) c.off(e, onMember as never);
    for (const e of userEvents) c.off(e, schedule);
    c.off(ClientEvent.AccountData, schedule);
  };
}

// -- actions ---------------------------------------------------------------------------------------

/** Removes (kicks) them; an invitation is withdrawn the same way. */
export async function removeMember(roomId: string, userId: string, reason: string): Promise<void> {
  await getClient().kick(roomId, userId, reason.trim() || undefined);
}

export async function banMember(roomId: string, userId: string, reason: string): Promise<void> {
  await getClient().ban(roomId, userId, reason.trim() || undefined);
}

/** Sets their power level in `m.room.power_levels` (the server checks the authorization rules again). */
export async function setMemberLevel(roomId: string, userId: string, level: number): Promise<void> {
  await getClient().setPowerLevel(roomId, userId, level);
}

/** The existing direct chat with them, or a new one (encrypted, `m.direct` updated). */
export function messageMember(userId: string): Promise<string> {
  return startDirectMessage(userId);
}

// -- devices and verification ----------------------------------------------------------------------

export type DeviceTrust = "verified" | "signed" | "unsigned";

export interface MemberDevice {
  deviceId: string;
  displayName: string;
  /** verified: by cross-signing we trust; signed: its owner signed it, we did not verify the owner; unsigned: neither. */
  trust: DeviceTrust;
}

export interface MemberTrust {
  /** We verified their identity (cross-signing). */
  verified: boolean;
  /** They have cross-signing keys at all. */
  crossSigning: boolean;
  devices: MemberDevice[];
}

/** Their devices with the trust of each, from the crypto module (downloads their keys if needed); null without encryption. */
export async function memberTrust(userId: string): Promise<MemberTrust | null> {
  const crypto = getClient().getCrypto();
  if (!crypto) return null;
  const map = await crypto.getUserDeviceInfo([userId], true);
  const devices = [...(map.get(userId)?.values() ?? [])];
  const [status, crossSigning] = await Promise.all([
    crypto.getUserVerificationStatus(userId),
    crypto.userHasCrossSigningKeys(userId, true),
  ]);
  const withTrust = await Promise.all(
    devices.map(async (d): Promise<MemberDevice> => {
      const s = await crypto.getDeviceVerificationStatus(userId, d.deviceId);
      const trust: DeviceTrust = s?.isVerified() ? "verified" : s?.signedByOwner ? "signed" : "unsigned";
      return { deviceId: d.deviceId, displayName: d.displayName || d.deviceId, trust };
    }),
  );
  withTrust.sort((a, b) => a.displayName.localeCompare(b.displayName) || a.deviceId.localeCompare(b.deviceId));
  return { verified: status.isVerified(), crossSigning, devices: withTrust };
}

// -- being removed ---------------------------------------------------------------------------------

/** Tells us when someone else removes or bans us (the conversation itself disappears from the list). */
export function attachRemovalNotices(c: MatrixClient): void {
  c.on(RoomEvent.MyMembership, (room: Room, membership: string, previous?: string) => {
    const event = room.getMember(c.getSafeUserId())?.events.member;
    const sender = event?.getSender();
    const text = removalNotice({
      membership,
      previous,
      byMe: !sender || sender === c.getSafeUserId(),
      actorName: room.getMember(sender ?? "")?.name ?? sender ?? "Someone",
      roomName: room.name,
      reason: event?.getContent().reason,
    });
    if (text) useUiStore.getState().toast({ kind: "info", text });
  });
}
