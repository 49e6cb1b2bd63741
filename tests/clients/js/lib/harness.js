// Shared plumbing for the matrix-js-sdk end-to-end-encryption scenarios.
//
// Each scenario is a Node script run as `node scenarios/NAME.js BASE_URL`; the server must allow open
// registration (m.login.dummy). The script prints one line per step and ends with `PASS NAME` (exit 0)
// or `FAIL NAME (during step: ...): why` (exit 1). Everything the SDK does goes through its real APIs:
// registration, login, the Rust crypto (initRustCrypto, in-memory store) and /sync.
import "./polyfills.js";

import { randomBytes } from "node:crypto";

import {
    ClientEvent,
    createClient,
    MatrixEventEvent,
    Preset,
    RoomEvent,
    RoomMemberEvent,
    RoomStateEvent,
    SyncState,
} from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger as globalSdkLogger } from "matrix-js-sdk/lib/logger.js";

export const DEFAULT_WAIT_MS = 30_000;
const SCENARIO_TIMEOUT_MS = Number(process.env.JS_SCENARIO_TIMEOUT_MS || 240_000);
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"];
const SDK_LOG_LEVEL = process.env.JS_SDK_LOG_LEVEL || "error";
const MEGOLM = "m.megolm.v1.aes-sha2";
const SYNC_MARKER_TYPE = "org.example.scenario.sync_marker";
// The Rust crypto waits a random 0-10 s before each key backup upload batch.
const BACKUP_UPLOAD_WAIT_MS = 60_000;

const startedAt = Date.now();

function elapsed() {
    return ((Date.now() - startedAt) / 1000).toFixed(2).padStart(7);
}

/** A Logger for the SDK that prints `level >= JS_SDK_LOG_LEVEL` to stderr, prefixed with the client's label. */
function makeSdkLogger(prefix) {
    const threshold = LOG_LEVELS.indexOf(SDK_LOG_LEVEL);
    const method = (level) => (...msg) => {
        if (LOG_LEVELS.indexOf(level) >= threshold) {
            process.stderr.write(`${elapsed()} [${prefix}] ${level}: ${msg.map(String).join(" ")}\n`);
        }
    };
    const log = Object.fromEntries(LOG_LEVELS.map((level) => [level, method(level)]));
    log.getChild = (namespace) => makeSdkLogger(`${prefix} ${namespace}`);
    return log;
}

// SDK code paths without a client at hand (e.g. MatrixRTC) log through the module-level logger's children,
// which force level DEBUG but copy its methodFactory: filter there, and write to stderr like the rest.
globalSdkLogger.methodFactory = (methodName) => makeSdkLogger("sdk")[methodName] || makeSdkLogger("sdk").info;
globalSdkLogger.rebuild();

export class ScenarioFailure extends Error {}

export function check(condition, message) {
    if (!condition) throw new ScenarioFailure(message);
}

export function describeError(err) {
    if (err && err.httpStatus) {
        return `HTTP ${err.httpStatus} ${err.errcode || ""} ${err.data ? JSON.stringify(err.data) : err.message}`;
    }
    return err && err.stack ? err.stack : String(err);
}

/**
 * Resolve when `predicate()` (sync or async) returns a truthy value: checked at once and again each time
 * one of `triggers` ([emitter, eventName] pairs) fires. Rejects after `timeoutMs` with `what` and the
 * last diagnostic the predicate reported through its `note` argument. `pollMs` re-checks on a timer
 * too, for state that changes without an SDK event (e.g. what the server returns).
 */
export function waitUntil(what, predicate, triggers, timeoutMs = DEFAULT_WAIT_MS, { pollMs } = {}) {
    return new Promise((resolve, reject) => {
        let done = false;
        let running = false;
        let rerun = false;
        let lastNote = "";
        let poller;
        const note = (text) => {
            lastNote = text;
        };
        const cleanup = () => {
            done = true;
            clearTimeout(timer);
            clearInterval(poller);
            for (const [emitter, name] of triggers) emitter.removeListener(name, onTrigger);
        };
        const evaluate = async () => {
            if (done) return;
            if (running) {
                rerun = true;
                return;
            }
            running = true;
            try {
                do {
                    rerun = false;
                    const result = await predicate(note);
                    if (result && !done) {
                        cleanup();
                        resolve(result);
                        return;
                    }
                } while (rerun && !done);
            } catch (err) {
                if (!done) {
                    cleanup();
                    reject(err);
                }
            } finally {
                running = false;
            }
        };
        const onTrigger = () => {
            evaluate();
        };
        const timer = setTimeout(() => {
            if (done) return;
            cleanup();
            const detail = lastNote ? ` (last seen: ${lastNote})` : "";
            reject(new ScenarioFailure(`timed out after ${timeoutMs / 1000}s waiting for ${what}${detail}`));
        }, timeoutMs);
        if (pollMs) poller = setInterval(onTrigger, pollMs);
        for (const [emitter, name] of triggers) emitter.on(name, onTrigger);
        evaluate();
    });
}

/** `promise`, or a ScenarioFailure naming `what` if it has not settled within `timeoutMs`. */
export function within(promise, what, timeoutMs = DEFAULT_WAIT_MS) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new ScenarioFailure(`timed out after ${timeoutMs / 1000}s waiting for ${what}`)),
            timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolve with the first argument of the next `eventName` from `emitter`; reject after `timeoutMs`. */
export function nextEmit(emitter, eventName, what, timeoutMs = DEFAULT_WAIT_MS) {
    return new Promise((resolve, reject) => {
        const onEvent = (value) => {
            clearTimeout(timer);
            resolve(value);
        };
        const timer = setTimeout(() => {
            emitter.removeListener(eventName, onEvent);
            reject(new ScenarioFailure(`timed out after ${timeoutMs / 1000}s waiting for ${what}`));
        }, timeoutMs);
        emitter.once(eventName, onEvent);
    });
}

/**
 * A UIAuthCallback for the SDK (e.g. bootstrapCrossSigning's authUploadDeviceSigningKeys) that answers
 * the server's challenge with m.login.password. It first tries without auth, as the SDK's own callers do;
 * `record.challenged` tells afterwards whether the server asked for authentication.
 */
export function passwordUia(user, record = {}) {
    record.challenged = false;
    return async (makeRequest) => {
        try {
            return await makeRequest(null);
        } catch (err) {
            if (err.httpStatus !== 401 || !err.data || !Array.isArray(err.data.flows)) throw err;
            record.challenged = true;
            const stages = err.data.flows.map((flow) => (flow.stages || []).join(","));
            check(err.data.flows.some((flow) => flow.stages && flow.stages.length === 1
                && flow.stages[0] === "m.login.password"),
                `UIA challenge offers no single-stage m.login.password flow: ${JSON.stringify(stages)}`);
            return makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: user.localpart },
                password: user.password,
                session: err.data.session,
            });
        }
    };
}

/**
 * Crypto callbacks through which the SDK asks the user for their secret storage key (the recovery key).
 * `known` holds what this "user" knows: {keyId, privateKey}; cacheSecretStorageKey fills it when the
 * SDK creates the key, or the scenario fills it as a user typing the recovery key would.
 */
export function recoveryKeyCallbacks(known) {
    return {
        getSecretStorageKey: async ({ keys }) => {
            const keyId = Object.keys(keys).find((id) => known.keyId === undefined || id === known.keyId);
            return keyId && known.privateKey ? [keyId, known.privateKey] : null;
        },
        cacheSecretStorageKey: (keyId, _info, privateKey) => {
            known.keyId = keyId;
            known.privateKey = privateKey;
        },
    };
}

/** The SDK's events that can change what a room-level predicate sees. */
function roomTriggers(client) {
    return [
        [client, ClientEvent.Room],
        [client, ClientEvent.Sync],
        [client, RoomEvent.Timeline],
        [client, RoomEvent.MyMembership],
        [client, RoomStateEvent.Events],
        [client, RoomMemberEvent.Membership],
        [client, MatrixEventEvent.Decrypted],
    ];
}

/** One scenario run: the server, the users and clients it made, and the step log. */
export class Scenario {
    constructor(name, baseUrl, otherBaseUrls = []) {
        this.name = name;
        this.baseUrl = baseUrl.replace(/\/+$/, "");
        // Further servers (federation scenarios): registerUser(name, this.otherBaseUrls[i]).
        this.otherBaseUrls = otherBaseUrls.map((url) => url.replace(/\/+$/, ""));
        this.runId = randomBytes(4).toString("hex");
        this.clients = [];
    }

    step(text) {
        this.currentStep = text;
        console.log(`${elapsed()} ${text}`);
    }

    // ------------------------------------------------------------------ accounts and clients

    /** Register a fresh account through the SDK (open registration, m.login.dummy); returns its credentials. */
    async registerUser(name, baseUrl = this.baseUrl) {
        const localpart = `${name}-${this.runId}`;
        const password = `pw-${randomBytes(12).toString("hex")}`;
        const anonymous = createClient({ baseUrl, logger: makeSdkLogger(`${name} register`) });
        const body = { username: localpart, password, inhibit_login: true };
        let session;
        try {
            await anonymous.registerRequest(body);
            throw new ScenarioFailure("registration without auth succeeded; expected a UIA 401 first");
        } catch (err) {
            if (err instanceof ScenarioFailure) throw err;
            check(err.httpStatus === 401 && err.data && err.data.session,
                `register ${localpart}: expected a 401 UIA challenge, got ${describeError(err)}`);
            session = err.data.session;
        }
        const done = await anonymous.registerRequest({ ...body, auth: { type: "m.login.dummy", session } });
        check(done.user_id, `register ${localpart}: no user_id in ${JSON.stringify(done)}`);
        return { name, localpart, userId: done.user_id, password, baseUrl };
    }

    /**
     * Log `user` in as a new device and return a started MatrixClient with Rust crypto, after its first
     * sync. `cryptoCallbacks` go to createClient (e.g. getSecretStorageKey).
     */
    async login(user, { label = user.name, cryptoCallbacks } = {}) {
        const baseUrl = user.baseUrl || this.baseUrl;
        const anonymous = createClient({ baseUrl, logger: makeSdkLogger(`${label} login`) });
        const session = await anonymous.loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: user.localpart },
            password: user.password,
            initial_device_display_name: `js-sdk scenario ${this.name} (${label})`,
        });
        const client = createClient({
            baseUrl,
            userId: session.user_id,
            deviceId: session.device_id,
            accessToken: session.access_token,
            cryptoCallbacks: cryptoCallbacks || {},
            logger: makeSdkLogger(label),
        });
        client.scenarioLabel = label;
        this.clients.push(client);
        await client.initRustCrypto({ useIndexedDB: false });
        await this.startAndSync(client);
        return client;
    }

    async startAndSync(client) {
        const prepared = waitUntil(
            `${client.scenarioLabel}'s first sync`,
            (note) => {
                const state = client.getSyncState();
                note(`sync state ${state}`);
                if (state === SyncState.Error) {
                    throw new ScenarioFailure(`${client.scenarioLabel}'s sync failed: ${client.getSyncStateData()?.error}`);
                }
                return state === SyncState.Prepared || state === SyncState.Syncing;
            },
            [[client, ClientEvent.Sync]],
        );
        // Element's options: lazy-loaded members (the crypto then fetches /members before encrypting)
        // and threads.
        await client.startClient({ initialSyncLimit: 50, lazyLoadMembers: true, threadSupport: true });
        await prepared;
    }

    stopAll() {
        for (const client of this.clients) {
            try {
                client.stopClient();
            } catch {
                // already stopped
            }
        }
    }

    /**
     * Let `client` catch up with every device-list change the server had so far: write an account-data
     * marker, wait for a completed sync that carried it (so the device_lists of all earlier changes
     * were processed too), then let the crypto finish any /keys/query those changes started. Needed
     * before replacing cross-signing keys: the Rust crypto drops freshly made private keys if a
     * /keys/query answered with the old public keys lands after them.
     */
    async settleDeviceLists(client, userIds) {
        const marker = randomBytes(8).toString("hex");
        const caughtUp = waitUntil(
            `${client.scenarioLabel}'s sync to pass marker ${marker}`,
            () => client.getAccountData(SYNC_MARKER_TYPE)?.getContent()?.marker === marker,
            [[client, ClientEvent.Sync]],
        );
        const path = `/_matrix/client/v3/user/${encodeURIComponent(client.getUserId())}/account_data/${SYNC_MARKER_TYPE}`;
        const { status, body } = await this.api(client, "PUT", path, { marker });
        check(status === 200, `PUT ${path} -> HTTP ${status} ${JSON.stringify(body)}`);
        await caughtUp;
        // Waits (up to 1 s each) for an in-flight /keys/query covering these users.
        await client.getCrypto().getUserDeviceInfo(userIds);
    }

    // ------------------------------------------------------------------ raw HTTP, for server-side checks

    /** A JSON request with the client's access token; returns {status, body}. */
    async api(client, method, path, body) {
        const resp = await fetch(client.getHomeserverUrl().replace(/\/+$/, "") + path, {
            method,
            headers: {
                Authorization: `Bearer ${client.getAccessToken()}`,
                ...(body === undefined ? {} : { "Content-Type": "application/json" }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await resp.text();
        let parsed = text;
        try {
            parsed = text ? JSON.parse(text) : null;
        } catch {
            // not JSON: keep the text for the failure message
        }
        return { status: resp.status, body: parsed };
    }

    /** Wait until the server's key backup `version` holds at least `count` sessions of `roomId`. */
    async waitForBackedUpSessions(client, version, roomId, count) {
        const path = `/_matrix/client/v3/room_keys/keys/${encodeURIComponent(roomId)}?version=${encodeURIComponent(version)}`;
        await waitUntil(
            `${count} session(s) of ${roomId} in server-side backup ${version}`,
            async (note) => {
                const { status, body } = await this.api(client, "GET", path);
                check(status === 200 || status === 404, `GET ${path} -> HTTP ${status} ${JSON.stringify(body)}`);
                const stored = status === 200 ? Object.keys(body.sessions || {}).length : 0;
                note(`${stored} session(s) backed up`);
                return stored >= count;
            },
            [],
            BACKUP_UPLOAD_WAIT_MS,
            { pollMs: 250 },
        );
    }

    // ------------------------------------------------------------------ rooms

    /** Create a room with m.room.encryption in its initial state, inviting `invitees`; returns its ID. */
    async createEncryptedRoom(creator, invitees, { direct = false } = {}) {
        const { room_id: roomId } = await creator.createRoom({
            preset: Preset.TrustedPrivateChat,
            is_direct: direct,
            invite: invitees.map((c) => c.getUserId()),
            initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
        });
        await this.waitForEncryptedRoom(creator, roomId);
        return roomId;
    }

    /** Wait until the client's crypto considers the room encrypted (it has seen m.room.encryption). */
    async waitForEncryptedRoom(client, roomId) {
        const crypto = client.getCrypto();
        await waitUntil(
            `${client.scenarioLabel} to see ${roomId} as encrypted`,
            async () => client.getRoom(roomId) && (await crypto.isEncryptionEnabledInRoom(roomId)),
            roomTriggers(client),
        );
    }

    /** Wait for the invite to reach `client` through /sync, then join. */
    async acceptInvite(client, roomId) {
        await waitUntil(
            `${client.scenarioLabel}'s invite to ${roomId}`,
            (note) => {
                const membership = client.getRoom(roomId)?.getMyMembership();
                note(`membership ${membership}`);
                return membership === "invite" || membership === "join";
            },
            roomTriggers(client),
        );
        await client.joinRoom(roomId);
        await waitUntil(
            `${client.scenarioLabel} to be joined to ${roomId}`,
            () => client.getRoom(roomId)?.getMyMembership() === "join",
            roomTriggers(client),
        );
        await this.waitForEncryptedRoom(client, roomId);
    }

    /** Wait until `observer`'s copy of the room lists every user in `userIds` as joined. */
    async waitForJoined(observer, roomId, userIds) {
        await waitUntil(
            `${observer.scenarioLabel} to see ${userIds.join(", ")} joined to ${roomId}`,
            (note) => {
                const room = observer.getRoom(roomId);
                const states = userIds.map((u) => `${u}=${room?.getMember(u)?.membership}`);
                note(states.join(" "));
                return room && userIds.every((u) => room.getMember(u)?.membership === "join");
            },
            roomTriggers(observer),
        );
    }

    /** Wait until `observer`'s crypto lists exactly `deviceIds` for `userId` (device_lists + /keys/query). */
    async waitForDeviceList(observer, userId, deviceIds) {
        const wanted = [...deviceIds].sort().join(",");
        await waitUntil(
            `${observer.scenarioLabel} to see ${userId}'s devices as [${wanted}]`,
            async (note) => {
                const devices = (await observer.getCrypto().getUserDeviceInfo([userId])).get(userId);
                const seen = [...(devices?.keys() || [])].sort().join(",");
                note(`[${seen}]`);
                return seen === wanted;
            },
            [[observer, CryptoEvent.DevicesUpdated], [observer, CryptoEvent.WillUpdateDevices]],
        );
    }

    /** Send a text message (the SDK encrypts it, the room being encrypted); returns the event ID. */
    async sendText(client, roomId, body) {
        const { event_id: eventId } = await client.sendTextMessage(roomId, body);
        check(eventId, `${client.scenarioLabel}: sending ${JSON.stringify(body)} returned no event_id`);
        return eventId;
    }

    /**
     * Wait until `client` has the event in its timeline, received encrypted (m.room.encrypted on the
     * wire) and decrypted to an m.room.message with `body`. Returns the MatrixEvent.
     */
    async expectDecrypted(client, roomId, eventId, body, timeoutMs = DEFAULT_WAIT_MS) {
        return waitUntil(
            `${client.scenarioLabel} to decrypt ${eventId} as ${JSON.stringify(body)}`,
            async (note) => {
                const event = client.getRoom(roomId)?.findEventById(eventId);
                if (!event) {
                    note("event not in the timeline yet");
                    return false;
                }
                await client.decryptEventIfNeeded(event);
                if (event.getWireType() !== "m.room.encrypted") {
                    throw new ScenarioFailure(
                        `${eventId} reached ${client.scenarioLabel} as ${event.getWireType()}, not m.room.encrypted`);
                }
                if (event.isDecryptionFailure()) {
                    note(`decryption failure ${event.decryptionFailureReason}`);
                    return false;
                }
                if (event.isBeingDecrypted()) {
                    note("still decrypting");
                    return false;
                }
                const content = event.getContent();
                note(`decrypted to ${event.getType()} ${JSON.stringify(content)}`);
                return event.getType() === "m.room.message" && content.body === body ? event : false;
            },
            roomTriggers(client),
            timeoutMs,
        );
    }
}

/** Parse argv, run `body(scenario)` with an overall timeout, report and exit. */
export async function runScenario(name, body) {
    const baseUrl = process.argv[2] || process.env.HS_BASE_URL;
    if (!baseUrl) {
        console.error(`usage: node ${process.argv[1]} BASE_URL  (a homeserver with open registration)`);
        process.exit(2);
    }
    const scenario = new Scenario(name, baseUrl, process.argv.slice(3));
    process.on("unhandledRejection", (err) => {
        console.log(`FAIL ${name} (during step: ${scenario.currentStep}): unhandled rejection: ${describeError(err)}`);
        process.exit(1);
    });
    let timer;
    const overall = new Promise((_, reject) => {
        timer = setTimeout(
            () => reject(new ScenarioFailure(`scenario took longer than ${SCENARIO_TIMEOUT_MS / 1000}s`)),
            SCENARIO_TIMEOUT_MS,
        );
    });
    let exitCode = 0;
    try {
        await Promise.race([body(scenario), overall]);
        console.log(`PASS ${name}`);
    } catch (err) {
        exitCode = 1;
        const why = err instanceof ScenarioFailure ? err.message : describeError(err);
        const during = scenario.currentStep ? ` (during step: ${scenario.currentStep})` : "";
        console.log(`FAIL ${name}${during}: ${why}`);
    } finally {
        clearTimeout(timer);
        scenario.stopAll();
    }
    // Stopped clients can leave timers (e.g. the crypto's outgoing-request loop) behind: exit explicitly.
    process.exit(exitCode);
}
