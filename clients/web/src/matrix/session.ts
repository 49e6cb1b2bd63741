/**
 * The one Matrix session of the app: log in / register / restore, the sync loop, end-to-end encryption
 * (Rust crypto, keys in IndexedDB), and the actions the screens call. It writes plain data into the
 * zustand store. This module pulls in matrix-js-sdk, so it is loaded only when needed (see App.tsx).
 */
import {
  ClientEvent,
  createClient,
  Direction,
  EventStatus,
  EventType,
  HttpApiEvent,
  KnownMembership,
  MatrixEventEvent,
  Method,
  NotificationCountType,
  PendingEventOrdering,
  Preset,
  ReceiptType,
  RoomEvent,
  RoomMemberEvent,
  RoomStateEvent,
  SyncState,
  MatrixEvent,
  type MatrixClient,
  type Room,
} from "matrix-js-sdk";
import { CallEventHandlerEvent } from "matrix-js-sdk/lib/webrtc/callEventHandler.js";
import { GroupCallEvent, GroupCallType, type GroupCall } from "matrix-js-sdk/lib/webrtc/groupCall.js";
import { GroupCallEventHandlerEvent } from "matrix-js-sdk/lib/webrtc/groupCallEventHandler.js";
import { useCallStore } from "@/store/call";
import type { ReactionEventContent, RoomMessageEventContent } from "matrix-js-sdk/lib/@types/events.js";
import { decodeRecoveryKey, type CryptoApi, type GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { completeUia, EMAIL_IDENTITY, EMAIL_POLL_MS, uiaBodyOf, type EmailStage } from "@/lib/auth";
import { deleteCryptoStore, forgetPendingDeletion, rememberPendingDeletion } from "@/lib/crypto-store";
import { nextEncryptionStep, statusOfStep, type EncryptionFacts } from "@/lib/encryption";
import { clearSession, cryptoDatabasePrefix, loadSession, saveSession, type StoredSession } from "@/lib/session";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";
import { attachAccountListeners, detachAccountState } from "./account";
import { attachVerificationListener, forgetVerification } from "./verification";
import { editContent, reactionContent, replyContent, textContent, threadContent, type TextMsgtype } from "@/lib/relations";
import { directRoomIds, firstUnreadEventId, quotedMessage, summarizeRoom, type QuotedMessage } from "./events";

export const MEGOLM = "m.megolm.v1.aes-sha2";

let client: MatrixClient | null = null;
/** The secret-storage key while we set up or unlock secret storage; the SDK asks for it via a callback. */
let secretStorageKey: Uint8Array<ArrayBuffer> | null = null;
let summaryTimer: ReturnType<typeof setTimeout> | null = null;

export function getClient(): MatrixClient {
  if (!client) throw new Error("Not logged in");
  return client;
}

export function currentClient(): MatrixClient | null {
  return client;
}

function deviceName(): string {
  const ua = typeof navigator === "undefined" ? "" : navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrom/.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  return `Web client (${browser})`;
}

// -- logging in ------------------------------------------------------------------------------------

export async function login(homeserverUrl: string, username: string, password: string): Promise<void> {
  const tmp = createClient({ baseUrl: homeserverUrl });
  const response = await tmp.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: username },
    password,
    initial_device_display_name: deviceName(),
  });
  await begin(
    {
      homeserverUrl,
      userId: response.user_id,
      deviceId: response.device_id,
      accessToken: response.access_token,
    },
    password,
  );
}

/** The registration flows the server offers (to know whether to show the token field). */
export async function registrationFlows(homeserverUrl: string): Promise<{ stages: string[] }[] | null> {
  const tmp = createClient({ baseUrl: homeserverUrl });
  try {
    await tmp.registerRequest({});
    return null;
  } catch (error) {
    const e = error as { httpStatus?: number; data?: { flows?: { stages: string[] }[] } };
    if (e.httpStatus === 401 && e.data?.flows) return e.data.flows;
    throw error;
  }
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sign-up. With `email`, the server mails a link to the address; `onCheckInbox` is called once the
 * mail is on its way, and registration goes on by itself once the link has been opened.
 */
export async function register(
  homeserverUrl: string,
  username: string,
  password: string,
  registrationToken?: string,
  email?: string,
  onCheckInbox?: () => void,
): Promise<void> {
  const tmp = createClient({ baseUrl: homeserverUrl });
  const emailStage: EmailStage | undefined = email
    ? {
        async start() {
          const clientSecret = tmp.generateClientSecret();
          const { sid } = await tmp.requestRegisterEmailToken(email, clientSecret, 1);
          onCheckInbox?.();
          return { sid, client_secret: clientSecret };
        },
        wait: () => pause(EMAIL_POLL_MS),
      }
    : undefined;
  const response = await completeUia(
    (auth) =>
      tmp.registerRequest({
        username,
        password,
        initial_device_display_name: deviceName(),
        ...(auth ? { auth } : {}),
      } as Parameters<MatrixClient["registerRequest"]>[0]),
    registrationToken || undefined,
    emailStage,
  );
  if (!response.access_token || !response.device_id) throw new Error("The server did not log the new account in.");
  await begin(
    {
      homeserverUrl,
      userId: response.user_id,
      deviceId: response.device_id,
      accessToken: response.access_token,
    },
    password,
  );
}

/**
 * A forgotten password: the server mails a link to the account's address; once it has been opened
 * (and confirmed), the new password is set. `onCheckInbox` is called when the mail is on its way.
 * Other sessions of the account are logged out.
 */
export async function resetPassword(
  homeserverUrl: string,
  email: string,
  newPassword: string,
  onCheckInbox?: () => void,
): Promise<void> {
  const tmp = createClient({ baseUrl: homeserverUrl });
  const clientSecret = tmp.generateClientSecret();
  const { sid } = await tmp.requestPasswordEmailToken(email, clientSecret, 1);
  onCheckInbox?.();
  let session: string | undefined;
  for (let round = 0; round < 900; round++) {
    try {
      await tmp.setPassword(
        { type: EMAIL_IDENTITY, threepid_creds: { sid, client_secret: clientSecret }, ...(session ? { session } : {}) },
        newPassword,
        true,
      );
      return;
    } catch (error) {
      const body = uiaBodyOf(error);
      if (!body || body.errcode !== "M_UNAUTHORIZED") throw error;
      session = body.session ?? session;
      await pause(EMAIL_POLL_MS);
    }
  }
  throw new Error("The link in the mail was not opened in time. Ask for a new mail.");
}

let restoring: Promise<boolean> | null = null;

/** At page load: resume the saved session, if any (once, however often it is called). */
export function restore(): Promise<boolean> {
  restoring ??= (async () => {
    const saved = loadSession(localStorage);
    if (!saved || client) return false;
    await start(saved);
    return true;
  })();
  return restoring;
}

async function begin(session: StoredSession, password: string): Promise<void> {
  saveSession(localStorage, session);
  await start(session, password);
}

// -- the running client ----------------------------------------------------------------------------

async function start(session: StoredSession, password?: string): Promise<void> {
  const store = useAppStore.getState();
  store.setStatus("starting", { userId: session.userId, deviceId: session.deviceId, homeserverUrl: session.homeserverUrl });
  client = createClient({
    baseUrl: session.homeserverUrl,
    userId: session.userId,
    deviceId: session.deviceId,
    accessToken: session.accessToken,
    timelineSupport: true,
    // Calls: relay-only ICE (media only through the TURN server) when the tests ask for it.
    forceTURN: forceTurnRequested(),
    // Mesh group calls: the SDK's encrypted to-device signalling for them needs the legacy crypto, so
    // their set-up messages go unencrypted (media stays DTLS-SRTP encrypted); users are told before joining.
    useE2eForGroupCall: false,
    cryptoCallbacks: {
      getSecretStorageKey: async ({ keys }) => {
        if (!secretStorageKey) return null;
        const defaultKeyId = await getClient().secretStorage.getDefaultKeyId();
        const keyId = defaultKeyId && keys[defaultKeyId] ? defaultKeyId : Object.keys(keys)[0];
        return keyId ? [keyId, secretStorageKey] : null;
      },
    },
  });
  const c = client;
  c.on(ClientEvent.Sync, (state: SyncState) => {
    useAppStore.getState().setSyncState(state);
    if (state === SyncState.Prepared || state === SyncState.Syncing) {
      if (useAppStore.getState().status !== "ready") useAppStore.getState().setStatus("ready");
    }
    scheduleSummaries();
  });
  c.on(ClientEvent.Room, scheduleSummaries);
  c.on(ClientEvent.DeleteRoom, scheduleSummaries);
  c.on(ClientEvent.AccountData, (event: MatrixEvent) => {
    if (event.getType() === EventType.Direct) scheduleSummaries();
  });
  c.on(RoomEvent.Timeline, scheduleSummaries);
  c.on(RoomEvent.LocalEchoUpdated, scheduleSummaries);
  c.on(RoomEvent.Name, scheduleSummaries);
  c.on(RoomEvent.MyMembership, (room: Room, membership: string, prev?: string) => {
    if (membership === KnownMembership.Join && prev === KnownMembership.Invite) void rememberDirectOnJoin(room);
    scheduleSummaries();
  });
  c.on(RoomMemberEvent.Name, scheduleSummaries);
  c.on(RoomStateEvent.Events, scheduleSummaries);
  c.on(MatrixEventEvent.Decrypted, scheduleSummaries);
  // The server says this token is dead (logged out elsewhere, "log out all devices", soft logout):
  // stop, and let the session-expired dialog lead back to the login page.
  c.on(HttpApiEvent.SessionLoggedOut, (error) => {
    if (client !== c) return; // we logged out ourselves: nothing to tell
    c.stopClient();
    useUiStore.getState().setSessionExpired({ soft: error?.data?.soft_logout === true });
  });
  attachAccountListeners(c);
  attachVerificationListener(c);
  onlyLiveCallEvents(c);
  // Incoming 1:1 calls: the SDK's call event handler (it runs after the first sync, because the browser
  // supports WebRTC) found one ringing; the call code is a lazy chunk.
  c.on(CallEventHandlerEvent.Incoming, (call) => {
    void import("@/calls/manager").then((m) => m.onIncomingCall(call));
  });
  // Group calls in rooms (from the room state): who is in them, for the room's "Join" banner.
  const watchGroupCall = (call: GroupCall) => {
    const update = () =>
      useCallStore.getState().setRoomCall(call.room.roomId, {
        video: call.type === GroupCallType.Video,
        participants: [...call.participants.keys()].map((m) => ({ userId: m.userId, name: m.name || m.userId })),
      });
    call.on(GroupCallEvent.ParticipantsChanged, update);
    update();
  };
  c.on(GroupCallEventHandlerEvent.Incoming, watchGroupCall);
  c.on(GroupCallEventHandlerEvent.Outgoing, watchGroupCall);
  c.on(GroupCallEventHandlerEvent.Ended, (call: GroupCall) => useCallStore.getState().setRoomCall(call.room.roomId, null));

  let cryptoStarted = false;
  try {
    await c.initRustCrypto({ cryptoDatabasePrefix: cryptoDatabasePrefix(session) });
    cryptoStarted = true;
  } catch (error) {
    console.error("Could not start end-to-end encryption", error);
    store.setCrypto("unavailable", "End-to-end encryption could not start in this browser.");
  }
  await c.startClient({
    initialSyncLimit: 30,
    lazyLoadMembers: true,
    pendingEventOrdering: PendingEventOrdering.Detached,
  });
  if (cryptoStarted) void setUpEncryption(password);
}

/**
 * matrix-js-sdk's call event handler takes every RoomEvent.Timeline event, also the history loaded
 * backwards when a conversation opens (after a reload, say): an invite from the last minute found there
 * is treated as a new call; it rings, or worse, "glares" with a call we are placing and replaces it.
 * Call signalling only means something live, so the handler gets only events added at the live end.
 * (It registers `this.onRoomTimeline` when it starts, after the first sync: wrapping it before works.)
 */
function onlyLiveCallEvents(c: MatrixClient): void {
  const handler = c.callEventHandler as unknown as { onRoomTimeline?: (event: MatrixEvent) => void } | undefined;
  const original = handler?.onRoomTimeline;
  if (!handler || !original) return;
  handler.onRoomTimeline = ((event: MatrixEvent, _room: Room | undefined, toStartOfTimeline?: boolean) => {
    if (toStartOfTimeline) return;
    original(event);
  }) as (event: MatrixEvent) => void;
}

/**
 * `localStorage["hs.forceTURN"] = "1"` (set only by the end-to-end tests) makes calls use the TURN relay
 * only (matrix-js-sdk's forceTURN: iceTransportPolicy "relay").
 */
function forceTurnRequested(): boolean {
  try {
    return localStorage.getItem("hs.forceTURN") === "1";
  } catch {
    return false;
  }
}

function scheduleSummaries(): void {
  // Many events arrive per sync: recompute the room list once per burst.
  if (summaryTimer) return;
  summaryTimer = setTimeout(() => {
    summaryTimer = null;
    refreshSummaries();
  }, 50);
}

export function refreshSummaries(): void {
  if (!client) return;
  const direct = directRoomIds(client);
  const summaries = client
    .getRooms()
    .map((room) => summarizeRoom(room, client!, direct))
    .filter((s): s is NonNullable<typeof s> => s !== null);
  useAppStore.getState().setRooms(summaries);
}

// -- end-to-end encryption setup -------------------------------------------------------------------

/**
 * A recovery key shown to the user and not used yet. Secret storage and the key backup are made with
 * it only once they confirm they saved it (`saveRecoveryKey`): no backup ever depends on a key that
 * nobody has seen, and closing the page before confirming loses nothing.
 */
let pendingRecoveryKey: GeneratedSecretStorageKey | null = null;

async function encryptionFacts(c: MatrixClient, crypto: CryptoApi, havePassword: boolean): Promise<EncryptionFacts> {
  const crossSigningReady = await crypto.isCrossSigningReady();
  const recoveryKeyExists = (await c.secretStorage.getDefaultKeyId()) !== null;
  if (!crossSigningReady) {
    return {
      crossSigningReady,
      accountHasCrossSigning: await crypto.userHasCrossSigningKeys(c.getSafeUserId(), true),
      recoveryKeyExists,
      secretStorageReady: false,
      backupTrusted: false,
      havePassword,
    };
  }
  const backup = await crypto.checkKeyBackupAndEnable();
  return {
    crossSigningReady,
    accountHasCrossSigning: true,
    recoveryKeyExists,
    secretStorageReady: await crypto.isSecretStorageReady(),
    backupTrusted: backup?.trustInfo.trusted === true,
    havePassword,
  };
}

/**
 * Works out what encryption needs on this device (`nextEncryptionStep`) and does what it can alone: at
 * the account's first login (the password at hand) it creates the cross-signing keys, then offers a new
 * recovery key. Secret storage and the backup wait for the user to save that key.
 */
export async function setUpEncryption(password?: string): Promise<void> {
  const c = getClient();
  const crypto = c.getCrypto();
  const store = useAppStore.getState();
  if (!crypto) return;
  store.setCrypto("checking");
  try {
    let step = nextEncryptionStep(await encryptionFacts(c, crypto, !!password));
    if (step === "create-cross-signing" && password) {
      await crypto.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
          await completePasswordUia(makeRequest, c.getSafeUserId(), password);
        },
      });
      step = nextEncryptionStep(await encryptionFacts(c, crypto, false));
      if (step === "offer-recovery-key" && client === c) await offerRecoveryKey();
    }
    if (client === c) store.setCrypto(statusOfStep(step));
  } catch (error) {
    console.error("Encryption setup failed", error);
    if (client === c) store.setCrypto("needs-setup", `Encryption setup failed: ${(error as Error).message ?? error}`);
  }
}

async function completePasswordUia(
  makeRequest: (auth: Record<string, unknown> | null) => Promise<unknown>,
  userId: string,
  password: string,
): Promise<void> {
  try {
    await makeRequest(null);
  } catch (error) {
    const e = error as { httpStatus?: number; data?: { session?: string } };
    if (e.httpStatus !== 401) throw error;
    await makeRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: userId },
      password,
      session: e.data?.session,
    });
  }
}

/**
 * A new recovery key, kept in memory only: returns it (encoded) to show. Needs a verified device (the
 * cross-signing keys are stored under the key when the user saves it).
 */
export async function prepareRecoveryKey(): Promise<string> {
  const crypto = getClient().getCrypto();
  if (!crypto) throw new Error("Encryption is not available in this browser.");
  if (!(await crypto.isCrossSigningReady())) {
    throw new Error("This device is not verified yet: enter your recovery key, verify it from another session, or reset encryption.");
  }
  const key = await crypto.createRecoveryKeyFromPassphrase();
  if (!key.encodedPrivateKey) throw new Error("Could not make a recovery key. Try again.");
  pendingRecoveryKey = key;
  return key.encodedPrivateKey;
}

/** Shows a new recovery key in the app's recovery key dialog. */
export async function offerRecoveryKey(): Promise<void> {
  useAppStore.getState().setRecoveryKey(await prepareRecoveryKey());
}

/**
 * The user saved the key shown (`encoded`): only now are secret storage and a new key backup made with
 * it. They replace any earlier recovery key and backup; the room keys this device has go to the new
 * backup.
 */
export async function saveRecoveryKey(encoded: string): Promise<void> {
  const c = getClient();
  const crypto = c.getCrypto();
  const key = pendingRecoveryKey;
  if (!crypto || !key || key.encodedPrivateKey !== encoded) {
    throw new Error("This recovery key is no longer current. Make a new one.");
  }
  secretStorageKey = key.privateKey;
  try {
    await crypto.bootstrapSecretStorage({
      createSecretStorageKey: async () => key,
      setupNewSecretStorage: true,
      setupNewKeyBackup: true,
    });
  } finally {
    secretStorageKey = null;
  }
  pendingRecoveryKey = null;
  if (useAppStore.getState().recoveryKey === encoded) useAppStore.getState().setRecoveryKey(null);
  await setUpEncryption();
}

/** The user closed the key without saving it: it is forgotten, nothing was stored with it. */
export function discardRecoveryKey(encoded: string): void {
  if (pendingRecoveryKey?.encodedPrivateKey === encoded) pendingRecoveryKey = null;
  if (useAppStore.getState().recoveryKey === encoded) useAppStore.getState().setRecoveryKey(null);
}

/**
 * The recovery key is lost and no other session can verify this one: new cross-signing keys (the
 * password answers the user-interactive auth; the old backup stays if it is wrong), then a new recovery key
 * is offered, and its secret storage and backup replace the old ones once saved. Messages this device
 * cannot decrypt now stay unreadable; other sessions and contacts see a new identity.
 */
export async function resetEncryption(password: string): Promise<void> {
  const c = getClient();
  const crypto = c.getCrypto();
  if (!crypto) throw new Error("Encryption is not available in this browser.");
  // With a default secret-storage key the SDK would store the new keys under it first, which needs
  // the lost key. Unset it; put it back if the reset fails (e.g. a wrong password): nothing lost then.
  const oldKeyId = await c.secretStorage.getDefaultKeyId();
  if (oldKeyId) await c.secretStorage.setDefaultKeyId(null);
  try {
    await crypto.bootstrapCrossSigning({
      setupNewCrossSigning: true,
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await completePasswordUia(makeRequest, c.getSafeUserId(), password);
      },
    });
  } catch (error) {
    if (oldKeyId) await c.secretStorage.setDefaultKeyId(oldKeyId).catch(() => {});
    throw error;
  }
  useAppStore.getState().setCrypto("needs-recovery-setup");
  await offerRecoveryKey();
}

/** A new browser of an existing account: unlock secret storage with the recovery key, restore history. */
export async function unlockWithRecoveryKey(encoded: string): Promise<{ imported: number }> {
  const c = getClient();
  const crypto = c.getCrypto();
  if (!crypto) throw new Error("Encryption is not available in this browser.");
  const key = decodeRecoveryKey(encoded.trim());
  const keyId = await c.secretStorage.getDefaultKeyId();
  const keyInfo = keyId ? (await c.secretStorage.getKey(keyId))?.[1] : undefined;
  if (!keyInfo || !(await c.secretStorage.checkKey(key, keyInfo))) {
    throw new Error("That recovery key does not match this account.");
  }
  secretStorageKey = key;
  try {
    console.debug("recovery: importing cross-signing keys");
    await crypto.bootstrapCrossSigning({});
    console.debug("recovery: loading the backup key");
    await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    console.debug("recovery: enabling the backup");
    await crypto.checkKeyBackupAndEnable();
    console.debug("recovery: restoring");
    const result = await crypto.restoreKeyBackup({ progressCallback: (p) => console.debug("recovery:", JSON.stringify(p)) });
    console.debug("recovery: done", result.imported, result.total);
    useAppStore.getState().setCrypto("ready");
    return { imported: result.imported };
  } finally {
    secretStorageKey = null;
  }
}

// -- rooms -----------------------------------------------------------------------------------------

const encryptionState = () => ({ type: EventType.RoomEncryption, state_key: "", content: { algorithm: MEGOLM } });

export async function startDirectMessage(userId: string): Promise<string> {
  const c = getClient();
  const existing = existingDirectRoom(c, userId);
  if (existing) return existing;
  const { room_id } = await c.createRoom({
    is_direct: true,
    invite: [userId],
    preset: Preset.TrustedPrivateChat,
    initial_state: [encryptionState()],
  });
  await addDirect(c, userId, room_id);
  return room_id;
}

function existingDirectRoom(c: MatrixClient, userId: string): string | null {
  const content = c.getAccountData(EventType.Direct)?.getContent<Record<string, string[]>>() ?? {};
  for (const roomId of content[userId] ?? []) {
    const room = c.getRoom(roomId);
    if (room?.getMyMembership() === KnownMembership.Join) return roomId;
  }
  return null;
}

async function addDirect(c: MatrixClient, userId: string, roomId: string): Promise<void> {
  const content = { ...(c.getAccountData(EventType.Direct)?.getContent<Record<string, string[]>>() ?? {}) };
  const rooms = new Set(content[userId] ?? []);
  rooms.add(roomId);
  content[userId] = [...rooms];
  await c.setAccountData(EventType.Direct, content);
}

async function rememberDirectOnJoin(room: Room): Promise<void> {
  const c = getClient();
  const me = room.getMember(c.getSafeUserId());
  const memberEvent = me?.events.member;
  const prevContent = memberEvent?.getPrevContent();
  if (prevContent?.is_direct === true || memberEvent?.getContent().is_direct === true) {
    const inviter = memberEvent?.getUnsigned()?.prev_sender ?? memberEvent?.getSender();
    if (inviter && inviter !== c.getSafeUserId()) await addDirect(c, inviter, room.roomId);
  }
}

export async function createGroup(name: string, topic: string, invitees: string[]): Promise<string> {
  const { room_id } = await getClient().createRoom({
    name: name.trim(),
    topic: topic.trim() || undefined,
    invite: invitees,
    preset: Preset.PrivateChat,
    initial_state: [encryptionState()],
  });
  return room_id;
}

export async function acceptInvite(roomId: string): Promise<void> {
  const c = getClient();
  const room = c.getRoom(roomId);
  const invite = room?.getMember(c.getSafeUserId())?.events.member;
  await c.joinRoom(roomId);
  if (invite?.getContent().is_direct === true && invite.getSender()) await addDirect(c, invite.getSender()!, roomId);
}

export async function declineInvite(roomId: string): Promise<void> {
  await getClient().leave(roomId);
  refreshSummaries();
}

export interface DirectoryUser {
  userId: string;
  displayName?: string;
}

/** User directory search; `null` when the server has no user directory (then type a full user ID). */
export async function searchUsers(term: string): Promise<DirectoryUser[] | null> {
  try {
    const response = await getClient().searchUserDirectory({ term, limit: 10 });
    useAppStore.getState().setUserDirectoryAvailable(true);
    return response.results.map((r) => ({ userId: r.user_id, displayName: r.display_name }));
  } catch (error) {
    const e = error as { httpStatus?: number; errcode?: string };
    if (e.httpStatus === 404 || e.httpStatus === 405 || e.errcode === "M_UNRECOGNIZED") {
      useAppStore.getState().setUserDirectoryAvailable(false);
      return null;
    }
    throw error;
  }
}

export async function lookUpUser(userId: string): Promise<DirectoryUser | null> {
  try {
    const profile = await getClient().getProfileInfo(userId);
    return { userId, displayName: profile.displayname };
  } catch {
    return null;
  }
}

// -- messages --------------------------------------------------------------------------------------

/**
 * Sends `text` (Markdown becomes HTML, see `markdown-render.ts`) as m.text or m.emote, as a rich reply when
 * `replyTo` is given, into a thread when `thread` is (see `threadContent`).
 */
export async function sendText(
  roomId: string,
  text: string,
  replyTo?: { eventId: string; sender: string },
  options: { msgtype?: TextMsgtype; thread?: { rootId: string; latestEventId: string } } = {},
): Promise<void> {
  const c = getClient();
  const me = c.getSafeUserId();
  const msgtype = options.msgtype ?? "m.text";
  const content = await (options.thread
    ? threadContent(text, { ...options.thread, replyTo }, me, msgtype)
    : replyTo
      ? replyContent(text, replyTo, me, msgtype)
      : textContent(text, msgtype));
  await c.sendMessage(roomId, content as RoomMessageEventContent);
}

export async function editText(roomId: string, eventId: string, text: string, msgtype: TextMsgtype = "m.text"): Promise<void> {
  await getClient().sendMessage(roomId, (await editContent(eventId, text, msgtype)) as RoomMessageEventContent);
}

export async function deleteMessage(roomId: string, eventId: string): Promise<void> {
  await getClient().redactEvent(roomId, eventId);
}

/** Adds our reaction `key`, or takes it back (redacts it) when we already reacted with it. */
export async function toggleReaction(roomId: string, eventId: string, key: string, ownReactionId: string | null): Promise<void> {
  const c = getClient();
  if (ownReactionId) {
    // Our reaction may still be a local echo (its ID is then the transaction's): cancel instead of redact.
    const pending = c.getRoom(roomId)?.getPendingEvents().find((e) => e.getId() === ownReactionId || e.getTxnId() === ownReactionId);
    const cancellable = [EventStatus.QUEUED, EventStatus.NOT_SENT, EventStatus.ENCRYPTING];
    if (pending?.status && cancellable.includes(pending.status)) c.cancelPendingEvent(pending);
    else await c.redactEvent(roomId, pending?.getId() ?? ownReactionId);
  } else {
    await c.sendEvent(roomId, EventType.Reaction, reactionContent(eventId, key) as unknown as ReactionEventContent);
  }
}

/** Tells the others we are (or stopped) typing; the server forgets it after `TYPING_TIMEOUT_MS`. */
export const TYPING_TIMEOUT_MS = 30_000;
export async function setTyping(roomId: string, typing: boolean): Promise<void> {
  try {
    await getClient().sendTyping(roomId, typing, TYPING_TIMEOUT_MS);
  } catch (error) {
    console.debug("Typing notification failed", error);
  }
}

/** Display names of the others typing in the room now. */
export function typingNames(roomId: string): string[] {
  const c = client;
  const room = c?.getRoom(roomId);
  if (!c || !room) return [];
  return room
    .getMembers()
    .filter((m) => m.typing && m.userId !== c.getSafeUserId())
    .map((m) => m.name);
}

/** The quote of a reply: from the loaded timeline, else fetched (and decrypted) from the server. */
export async function fetchQuoted(roomId: string, eventId: string): Promise<QuotedMessage | null> {
  const c = getClient();
  const room = c.getRoom(roomId);
  if (!room) return null;
  const loaded = room.findEventById(eventId);
  if (loaded) return quotedMessage(loaded, room);
  try {
    const raw = await c.fetchRoomEvent(roomId, eventId);
    const event = new MatrixEvent(raw);
    if (event.isEncrypted()) await c.decryptEventIfNeeded(event);
    return quotedMessage(event, room);
  } catch {
    return null;
  }
}

export function quotedIfLoaded(roomId: string, eventId: string): QuotedMessage | null {
  const room = client?.getRoom(roomId);
  const event = room?.findEventById(eventId);
  return room && event ? quotedMessage(event, room) : null;
}

/** Whether the live timeline holds `eventId` (else `loadOlder` may bring it). */
export function hasLoaded(roomId: string, eventId: string): boolean {
  const room = client?.getRoom(roomId);
  return !!room?.getLiveTimeline().getEvents().some((e) => e.getId() === eventId);
}

/** For "Jump to unread": the first message from someone else after our read receipt. */
export function firstUnread(roomId: string): string | null {
  const c = client;
  const room = c?.getRoom(roomId);
  return c && room ? firstUnreadEventId(room, c.getSafeUserId()) : null;
}

export async function retry(roomId: string, eventId: string): Promise<void> {
  const c = getClient();
  const room = c.getRoom(roomId);
  const event = room?.getPendingEvents().find((e) => (e.getId() ?? e.getTxnId()) === eventId);
  if (room && event) await c.resendEvent(event, room);
}

export function discard(roomId: string, eventId: string): void {
  const c = getClient();
  const event = c.getRoom(roomId)?.getPendingEvents().find((e) => (e.getId() ?? e.getTxnId()) === eventId);
  if (event) c.cancelPendingEvent(event);
}

/**
 * Whether the live timeline holds the room's first event we may see. Asked afresh on every render: a
 * room we just joined has no pagination token until the sync with its timeline arrives.
 */
export function reachedStart(roomId: string): boolean {
  const room = client?.getRoom(roomId);
  return !room || room.getLiveTimeline().getPaginationToken(Direction.Backward) === null;
}

/** Loads older messages into the live timeline (no-op at the start of the room). */
export async function loadOlder(roomId: string): Promise<void> {
  const c = getClient();
  const room = c.getRoom(roomId);
  if (room && !reachedStart(roomId)) await c.scrollback(room, 30);
}

export async function markRead(roomId: string): Promise<void> {
  const c = getClient();
  const room = c.getRoom(roomId);
  if (!room) return;
  const events = room.getLiveTimeline().getEvents();
  const last = events[events.length - 1];
  if (!last || !last.getId() || last.getId()!.startsWith("~")) return;
  if (room.hasUserReadEvent(c.getSafeUserId(), last.getId()!) && room.getUnreadNotificationCount(NotificationCountType.Total) === 0) {
    return;
  }
  room.setUnreadNotificationCount(NotificationCountType.Total, 0);
  room.setUnreadNotificationCount(NotificationCountType.Highlight, 0);
  scheduleSummaries();
  try {
    await c.sendReadReceipt(last, ReceiptType.Read);
  } catch (error) {
    console.warn("Could not send a read receipt", error);
  }
}

// -- logging out -----------------------------------------------------------------------------------

export async function logout(everywhere: boolean): Promise<void> {
  const c = getClient();
  try {
    if (everywhere) await c.http.authedRequest(Method.Post, "/logout/all");
    else await c.logout(true);
  } catch (error) {
    console.warn("Logout request failed; forgetting the session anyway", error);
  }
  await forgetSession();
}

/** Only when the browser says nothing at all about a delete (neither done nor blocked). */
const DELETE_SAFETY_MS = 5000;

/**
 * Stops the client and deletes everything this device kept: the token and the crypto database.
 *
 * Stopping closes the OlmMachine, but its IndexedDB connection closes only when every Rust object
 * sharing the store is freed, and wasm objects are freed by the garbage collector (a verification we
 * took part in leaves some). When the delete is blocked, the page reloads: a fresh page holds no
 * connection, and `finishPendingDeletions` (at load) deletes the store before anything could open it.
 */
export async function forgetSession(): Promise<void> {
  const c = client;
  client = null;
  restoring = null;
  secretStorageKey = null;
  pendingRecoveryKey = null;
  clearSession(localStorage);
  if (c) {
    const prefix = cryptoDatabasePrefix({ userId: c.getSafeUserId(), deviceId: c.getDeviceId() ?? "" });
    rememberPendingDeletion(localStorage, prefix);
    c.stopClient();
    forgetVerification();
    if (await deleteCryptoStore(indexedDB, prefix, { settleWhenBlocked: true, safetyMs: DELETE_SAFETY_MS })) {
      forgetPendingDeletion(localStorage, prefix);
    } else {
      console.info("The crypto store is still open in this page; reloading to delete it");
      location.reload();
      return;
    }
  }
  detachAccountState();
  useAppStore.getState().reset();
}
