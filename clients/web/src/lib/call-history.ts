/**
 * Calls as history in the timeline: the m.call.* events of a room folded into one entry per call
 * (shown where its m.call.invite is): started, ongoing, ended with its duration, missed, declined.
 * Plain data in, plain data out (unit-tested).
 */

export interface CallEventInfo {
  type: string;
  sender: string;
  ts: number;
  content: { call_id?: unknown; reason?: unknown; offer?: { sdp?: unknown }; lifetime?: unknown; invitee?: unknown };
}

export type CallOutcome =
  | "ringing" // invited, no answer yet (and not expired)
  | "ongoing" // answered, not hung up
  | "ended" // answered, then hung up
  | "declined" // rejected (m.call.reject), or hung up by the callee before answering
  | "missed" // never answered: the caller gave up or the invite expired
  | "failed"; // answered but ended by an error (ICE failed, ...)

export interface CallSummary {
  callId: string;
  caller: string;
  video: boolean;
  startedTs: number;
  answeredTs: number | null;
  endedTs: number | null;
  /** Seconds between answer and hang-up (null unless answered and ended). */
  durationSeconds: number | null;
  outcome: CallOutcome;
  /** Who hung up / declined. */
  endedBy: string | null;
  reason: string | null;
}

const CALL_TYPES = new Set([
  "m.call.invite",
  "m.call.answer",
  "m.call.hangup",
  "m.call.reject",
  "m.call.candidates",
  "m.call.select_answer",
  "m.call.negotiate",
  "m.call.sdp_stream_metadata_changed",
  "org.matrix.call.sdp_stream_metadata_changed",
  "m.call.asserted_identity",
  "org.matrix.call.asserted_identity",
]);

export function isCallEventType(type: string): boolean {
  return CALL_TYPES.has(type);
}

/** An invite's offer asks for video when its SDP has a video media section. */
export function inviteIsVideo(content: CallEventInfo["content"]): boolean {
  const sdp = content.offer?.sdp;
  return typeof sdp === "string" && /^m=video /m.test(sdp);
}

const FAILURE_REASONS = new Set(["ice_failed", "ice_timeout", "signalling_timeout", "no_user_media", "user_media_failed", "unknown_error"]);

/**
 * Folds call events (in timeline order) into one summary per call, keyed by call ID. `now` decides
 * whether an unanswered invite is still ringing or already expired (its `lifetime`, default 60 s).
 */
export function summarizeCalls(events: CallEventInfo[], now: number): Map<string, CallSummary> {
  const calls = new Map<string, CallSummary>();
  for (const e of events) {
    const callId = typeof e.content.call_id === "string" ? e.content.call_id : null;
    if (!callId) continue;
    if (e.type === "m.call.invite") {
      if (calls.has(callId)) continue; // a renegotiation / duplicate
      const lifetime = typeof e.content.lifetime === "number" ? e.content.lifetime : 60_000;
      calls.set(callId, {
        callId,
        caller: e.sender,
        video: inviteIsVideo(e.content),
        startedTs: e.ts,
        answeredTs: null,
        endedTs: null,
        durationSeconds: null,
        outcome: now - e.ts < lifetime ? "ringing" : "missed",
        endedBy: null,
        reason: null,
      });
      continue;
    }
    const call = calls.get(callId);
    if (!call || call.endedTs !== null) continue;
    if (e.type === "m.call.answer") {
      if (call.answeredTs === null) {
        call.answeredTs = e.ts;
        call.outcome = "ongoing";
      }
    } else if (e.type === "m.call.reject") {
      if (call.answeredTs !== null) continue; // a reject after the answer (another device) changes nothing
      call.endedTs = e.ts;
      call.endedBy = e.sender;
      call.outcome = "declined";
    } else if (e.type === "m.call.hangup") {
      const reason = typeof e.content.reason === "string" ? e.content.reason : null;
      call.endedTs = e.ts;
      call.endedBy = e.sender;
      call.reason = reason;
      if (call.answeredTs !== null) {
        call.durationSeconds = Math.max(0, Math.round((e.ts - call.answeredTs) / 1000));
        call.outcome = reason && FAILURE_REASONS.has(reason) ? "failed" : "ended";
      } else if (reason === "replaced") {
        calls.delete(callId); // glare: the other call of the pair is the one that happened
      } else {
        call.outcome = e.sender === call.caller ? "missed" : "declined";
      }
    }
  }
  return calls;
}

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The line the timeline shows for a call, from `me`'s point of view; `name` gives display names. */
export function callHistoryText(call: CallSummary, me: string, name: (userId: string) => string): string {
  const kind = call.video ? "video call" : "voice call";
  const Kind = call.video ? "Video call" : "Voice call";
  const incoming = call.caller !== me;
  const who = name(call.caller);
  switch (call.outcome) {
    case "ringing":
      return incoming ? `${who} is calling (${kind})` : `You started a ${kind}`;
    case "ongoing":
      return `${incoming ? `${who} started` : "You started"} a ${kind} · in progress`;
    case "ended":
      return `${Kind} ${incoming ? `from ${who}` : "you started"} · ended after ${formatDuration(call.durationSeconds ?? 0)}`;
    case "failed":
      return `${Kind} ${incoming ? `from ${who}` : "you started"} · dropped after ${formatDuration(call.durationSeconds ?? 0)}`;
    case "declined":
      return incoming ? `You declined a ${kind} from ${who}` : `${Kind} declined${call.endedBy ? ` by ${name(call.endedBy)}` : ""}`;
    case "missed":
      return incoming ? `Missed ${kind} from ${who}` : `${Kind} not answered`;
  }
}
