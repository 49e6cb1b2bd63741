/**
 * The ring of an incoming call: a tone made with Web Audio (no sound file to download), repeated until
 * the call is answered, declined or over; and a desktop notification when the tab is hidden (and the
 * user allowed notifications, in Settings).
 */
let context: AudioContext | null = null;
let timer: ReturnType<typeof setInterval> | null = null;
let notification: Notification | null = null;

function beep(ctx: AudioContext): void {
  // Two short tones, like a phone.
  for (const [offset, freq] of [[0, 880], [0.25, 660]] as const) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime + offset);
    gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + offset + 0.22);
    osc.connect(gain).connect(ctx.destination);
    osc.start(ctx.currentTime + offset);
    osc.stop(ctx.currentTime + offset + 0.24);
  }
}

/** Whether the ring tone is playing (for tests: document.documentElement.dataset.ringing). */
function mark(on: boolean): void {
  if (on) document.documentElement.dataset.ringing = "true";
  else delete document.documentElement.dataset.ringing;
}

export function startRinging({ callId, callerName, video }: { callId: string; callerName: string; video: boolean }): void {
  stopRinging();
  try {
    context = new AudioContext();
    beep(context);
    timer = setInterval(() => context && beep(context), 2000);
  } catch {
    context = null; // no audio output: the dialog still shows
  }
  mark(true);
  if (document.hidden && typeof Notification !== "undefined" && Notification.permission === "granted") {
    try {
      notification = new Notification(`${callerName} is calling`, {
        body: video ? "Incoming video call" : "Incoming voice call",
        tag: `call-${callId}`,
        requireInteraction: true,
      });
      notification.onclick = () => {
        window.focus();
        notification?.close();
      };
    } catch {
      notification = null;
    }
  }
}

export function stopRinging(): void {
  if (timer) clearInterval(timer);
  timer = null;
  void context?.close().catch(() => undefined);
  context = null;
  notification?.close();
  notification = null;
  mark(false);
}
