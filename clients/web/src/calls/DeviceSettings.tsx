/**
 * Settings → Calls: the microphone, camera and speaker for calls, with a camera preview and a microphone
 * level meter; when the browser refuses or finds no device, it says why and what to do. A lazy chunk.
 */
import { useEffect, useRef, useState } from "react";
import { Button } from "@/components/ui/button";
import { mediaErrorText } from "@/lib/call-messages";
import { applySpeaker, listDevices, loadDevicePreferences, saveDevicePreferences, type DeviceLists, type DevicePreferences } from "./devices";

/** What went wrong getting media, in words, with the next step. */
export function explainDeviceError(error: unknown): string {
  const secureContext = typeof navigator === "undefined" || Boolean(navigator.mediaDevices);
  return mediaErrorText((error as { name?: string } | null)?.name, { secureContext });
}

export default function DeviceSettings() {
  const [prefs, setPrefs] = useState<DevicePreferences>(loadDevicePreferences);
  const [devices, setDevices] = useState<DeviceLists | null>(null);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [level, setLevel] = useState(0);
  const video = useRef<HTMLVideoElement>(null);
  const audio = useRef<HTMLAudioElement>(null);

  useEffect(() => {
    void listDevices().then(setDevices).catch(() => setDevices(null));
  }, []);

  // Stop the preview when leaving.
  useEffect(() => () => stream?.getTracks().forEach((t) => t.stop()), [stream]);

  useEffect(() => {
    if (video.current) video.current.srcObject = stream;
  }, [stream]);

  // The microphone level: RMS of the signal, ~20 times a second.
  useEffect(() => {
    if (!stream || stream.getAudioTracks().length === 0) return;
    const ctx = new AudioContext();
    const source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    const t = setInterval(() => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      setLevel(Math.min(1, Math.sqrt(sum / data.length) * 4));
    }, 50);
    return () => {
      clearInterval(t);
      void ctx.close();
    };
  }, [stream]);

  const start = async (next: DevicePreferences = prefs) => {
    setError(null);
    stream?.getTracks().forEach((t) => t.stop());
    setStream(null);
    if (!navigator.mediaDevices?.getUserMedia) {
      setError(explainDeviceError(null));
      return;
    }
    try {
      const s = await navigator.mediaDevices.getUserMedia({
        audio: next.audioInput ? { deviceId: { ideal: next.audioInput } } : true,
        video: next.videoInput ? { deviceId: { ideal: next.videoInput } } : true,
      });
      setStream(s);
    } catch (e) {
      // No camera is fine for voice calls: try the microphone alone.
      try {
        const s = await navigator.mediaDevices.getUserMedia({ audio: next.audioInput ? { deviceId: { ideal: next.audioInput } } : true });
        setStream(s);
        setError(`${explainDeviceError(e)} (The microphone works.)`);
      } catch (e2) {
        setError(explainDeviceError(e2));
      }
    }
    // Labels are only given once the site may use the devices.
    setDevices(await listDevices());
  };

  const choose = (kind: keyof DevicePreferences, id: string) => {
    const next = { ...prefs, [kind]: id };
    setPrefs(next);
    saveDevicePreferences(next);
    if (kind === "audioOutput") {
      if (audio.current) void applySpeaker(audio.current, id);
    } else if (stream) {
      void start(next);
    }
  };

  const testSpeaker = () => {
    const el = audio.current;
    if (!el) return;
    // A short tone through the chosen speaker.
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    const dest = ctx.createMediaStreamDestination();
    osc.frequency.value = 660;
    osc.connect(dest);
    el.srcObject = dest.stream;
    void applySpeaker(el, prefs.audioOutput).then(() => el.play());
    osc.start();
    osc.stop(ctx.currentTime + 0.6);
    setTimeout(() => void ctx.close(), 800);
  };

  const select = (kind: "audioinput" | "videoinput" | "audiooutput", pref: keyof DevicePreferences, label: string) => {
    const list = devices?.[kind] ?? [];
    return (
      <div className="flex flex-col gap-1 text-sm">
        <label className="font-medium" htmlFor={`call-device-${kind}`}>
          {label}
        </label>
        <select
          id={`call-device-${kind}`}
          className="h-9 rounded-md border border-border bg-bg px-2"
          value={prefs[pref] ?? ""}
          onChange={(e) => choose(pref, e.target.value)}
          disabled={list.length === 0}
        >
          <option value="">{list.length === 0 ? "None found" : "Default"}</option>
          {list.map((d, i) => (
            <option key={d.deviceId || i} value={d.deviceId}>
              {d.label || `${label} ${i + 1}`}
            </option>
          ))}
        </select>
      </div>
    );
  };

  const canChooseSpeaker = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
  return (
    <div className="flex flex-col gap-3" aria-label="Audio and video">
      <p className="text-sm text-fg-muted">The microphone, camera and speaker used for calls.</p>
      {select("audioinput", "audioInput", "Microphone")}
      {select("videoinput", "videoInput", "Camera")}
      {canChooseSpeaker ? select("audiooutput", "audioOutput", "Speaker") : <p className="text-xs text-fg-muted">This browser plays calls on its default speaker.</p>}
      <div className="flex gap-2">
        <Button size="sm" variant="secondary" onClick={() => void start()}>
          {stream ? "Check again" : "Check microphone and camera"}
        </Button>
        {canChooseSpeaker && (
          <Button size="sm" variant="secondary" onClick={testSpeaker}>
            Play a test sound
          </Button>
        )}
      </div>
      {error && (
        <p role="alert" className="rounded-md border border-danger px-3 py-2 text-sm">
          {error}
        </p>
      )}
      {stream && (
        <div className="flex flex-col gap-2">
          {stream.getVideoTracks().length > 0 && (
            <video ref={video} autoPlay playsInline muted aria-label="Camera preview" className="w-full max-w-xs -scale-x-100 rounded-md bg-black" />
          )}
          <div className="flex items-center gap-2 text-sm">
            <span>Microphone level</span>
            <div
              role="meter"
              aria-label="Microphone level"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(level * 100)}
              className="h-2 flex-1 overflow-hidden rounded bg-muted"
            >
              <div className="h-full bg-accent transition-[width] duration-75" style={{ width: `${Math.round(level * 100)}%` }} />
            </div>
          </div>
        </div>
      )}
      <audio ref={audio} className="hidden" />
    </div>
  );
}
