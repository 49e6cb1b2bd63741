/** The microphone, camera and speaker chosen for calls (in localStorage), and the browser's device lists. */
export interface DevicePreferences {
  audioInput?: string;
  videoInput?: string;
  audioOutput?: string;
}

const KEY = "hs.callDevices";

export function loadDevicePreferences(): DevicePreferences {
  try {
    const raw = JSON.parse(localStorage.getItem(KEY) ?? "{}");
    return raw && typeof raw === "object" ? (raw as DevicePreferences) : {};
  } catch {
    return {};
  }
}

export function saveDevicePreferences(prefs: DevicePreferences): void {
  localStorage.setItem(KEY, JSON.stringify(prefs));
}

export interface DeviceLists {
  audioinput: MediaDeviceInfo[];
  videoinput: MediaDeviceInfo[];
  audiooutput: MediaDeviceInfo[];
}

export async function listDevices(): Promise<DeviceLists> {
  const all = navigator.mediaDevices ? await navigator.mediaDevices.enumerateDevices() : [];
  return {
    audioinput: all.filter((d) => d.kind === "audioinput"),
    videoinput: all.filter((d) => d.kind === "videoinput"),
    audiooutput: all.filter((d) => d.kind === "audiooutput"),
  };
}

/** Plays `element`'s sound on the chosen speaker, where the browser can choose (setSinkId). */
export async function applySpeaker(element: HTMLMediaElement, deviceId: string | undefined): Promise<void> {
  const el = element as HTMLMediaElement & { setSinkId?: (id: string) => Promise<void> };
  if (!el.setSinkId || deviceId === undefined) return;
  try {
    await el.setSinkId(deviceId);
  } catch {
    /* the device went away: the default speaker plays */
  }
}
