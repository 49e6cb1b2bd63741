/** What the call screens say when a call ends or a device cannot be used (plain, unit-tested). */

export interface CallEnd {
  /** The SDK's hang-up reason (CallErrorCode values: "user_hangup", "invite_timeout", ...). */
  reason: string | undefined;
  /** The other side ended it (or it ended on its own), not us. */
  remote: boolean;
  direction: "incoming" | "outgoing";
  /** Media had connected. */
  wasConnected: boolean;
  peerName: string;
}

/** The words for how a call ended, or null when it needs none (glare: the call was replaced). */
export function callEndedText({ reason, remote, direction, wasConnected, peerName }: CallEnd): string | null {
  switch (reason) {
    case "replaced":
      return null;
    case "answered_elsewhere":
      return "The call was answered on another device";
    case "invite_timeout":
      return direction === "incoming" ? `Missed call from ${peerName}` : `${peerName} did not answer`;
    case "user_busy":
      return `${peerName} is busy`;
    case "ice_failed":
      return "The connection failed: no network route to the other side (the TURN server may be unreachable)";
    case "no_user_media":
      return "The call could not use your microphone or camera";
    default:
      if (!wasConnected && remote) return direction === "outgoing" ? `${peerName} declined the call` : `Missed call from ${peerName}`;
      return remote ? `${peerName} ended the call` : "Call ended";
  }
}

/** Explains a getUserMedia failure (its DOMException name) with what to do about it. */
export function mediaErrorText(name: string | undefined, { secureContext = true }: { secureContext?: boolean } = {}): string {
  if (!secureContext) return "This browser gives no access to microphones and cameras here (it needs a secure connection, https).";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return "The browser blocked the microphone and camera for this site. Allow them (the icon at the left of the address bar, or the browser's site settings), then try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone or camera was found. Connect one (or choose another in Settings → Calls), then try again. Voice calls need a microphone; video calls also a camera.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone or camera is in use by another application, or the system blocks it. Close the other application, then try again.";
    default:
      return "The microphone or camera could not be used. Check Settings → Calls.";
  }
}
