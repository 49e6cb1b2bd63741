/**
 * Everything a 1:1 call draws (a lazy chunk, loaded once a call exists): the incoming call dialog, the
 * call view (remote video or screen, a movable self view, controls, quality), and the call bar shown
 * while the user is elsewhere in the app. The remote sound plays from an <audio> element that stays
 * mounted whichever of these is shown.
 */
import { useEffect, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuLabel,
  DropdownMenuRadioGroup,
  DropdownMenuRadioItem,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";
import { formatDuration } from "@/lib/call-history";
import { qualityLabel, routeLabel } from "@/lib/call-quality";
import { cn } from "@/lib/cn";
import { GROUP_CALL_LIMIT, useCallStore, type ActiveCall, type ActiveGroupCall, type GroupTile } from "@/store/call";
import { applySpeaker, listDevices, loadDevicePreferences, saveDevicePreferences, type DeviceLists } from "./devices";
import * as calls from "./manager";
import * as group from "./group";
import {
  CameraIcon,
  CameraOffIcon,
  HangUpIcon,
  MicIcon,
  MicOffIcon,
  MinimizeIcon,
  PauseIcon,
  ScreenIcon,
  SettingsIcon,
  SignalIcon,
} from "./icons";

export default function CallLayer() {
  const call = useCallStore((s) => s.call);
  const groupCall = useCallStore((s) => s.group);
  const prompt = useCallStore((s) => s.groupPrompt);
  const viewOpen = useCallStore((s) => s.viewOpen);
  if (!call) {
    return (
      <>
        {prompt && <GroupCallPrompt roomId={prompt.roomId} roomName={prompt.roomName} starting={prompt.starting} />}
        {groupCall && (viewOpen ? <GroupCallView call={groupCall} /> : <GroupCallBar call={groupCall} />)}
      </>
    );
  }
  return (
    <>
      <RemoteAudio />
      {call.phase === "ringing" && call.direction === "incoming" ? (
        <IncomingCallDialog call={call} />
      ) : viewOpen ? (
        <CallView call={call} />
      ) : (
        <CallBar call={call} />
      )}
    </>
  );
}

/** Attaches `stream` to a media element (and keeps it attached when the stream object changes). */
function useStream<T extends HTMLMediaElement>(stream: MediaStream | null) {
  const ref = useRef<T>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (el.srcObject !== stream) el.srcObject = stream;
    if (stream) void el.play().catch(() => undefined);
  }, [stream]);
  return ref;
}

function useMedia() {
  useCallStore((s) => s.mediaVersion); // re-render when the streams change
  return calls.callMedia();
}

function RemoteAudio() {
  const { remote } = useMedia();
  const ref = useStream<HTMLAudioElement>(remote);
  useEffect(() => {
    if (ref.current) void applySpeaker(ref.current, loadDevicePreferences().audioOutput);
  }, [ref]);
  return <audio ref={ref} autoPlay data-testid="call-remote-audio" className="hidden" />;
}

function useDuration(connectedAt: number | null): string | null {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (connectedAt === null) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [connectedAt]);
  return connectedAt === null ? null : formatDuration((now - connectedAt) / 1000);
}

function statusText(call: ActiveCall, duration: string | null): string {
  if (call.onHold) return "On hold";
  if (call.remoteOnHold) return `${call.peerName} put the call on hold`;
  switch (call.phase) {
    case "calling":
      return "Calling…";
    case "ringing":
      return "Ringing…";
    case "connecting":
      return "Connecting…";
    case "connected":
      return duration ?? "Connected";
    case "ended":
      return "Call ended";
  }
}

// -- ringing ------------------------------------------------------------------------------------------

function IncomingCallDialog({ call }: { call: ActiveCall }) {
  const [busy, setBusy] = useState(false);
  const accept = (video: boolean) => {
    setBusy(true);
    void calls.answer(video).finally(() => setBusy(false));
  };
  return (
    <Dialog open>
      <DialogContent
        title={call.video ? "Incoming video call" : "Incoming voice call"}
        description={`${call.peerName} is calling you.`}
        dismissable={false}
      >
        <div className="flex flex-col items-center gap-4" data-testid="incoming-call">
          <div className="animate-pulse rounded-full ring-4 ring-accent/40">
            <Avatar id={call.peerUserId} name={call.peerName} size={96} />
          </div>
          <p className="text-base font-semibold">{call.peerName}</p>
          <div className="flex w-full flex-wrap justify-center gap-2">
            {call.video && (
              <Button disabled={busy} onClick={() => accept(true)}>
                <CameraIcon /> <span className="ml-1">Accept with video</span>
              </Button>
            )}
            <Button variant={call.video ? "secondary" : "primary"} disabled={busy} onClick={() => accept(false)}>
              <MicIcon /> <span className="ml-1">{call.video ? "Accept without video" : "Accept"}</span>
            </Button>
            <Button variant="danger" disabled={busy} onClick={() => calls.decline()}>
              <HangUpIcon /> <span className="ml-1">Decline</span>
            </Button>
          </div>
        </div>
      </DialogContent>
    </Dialog>
  );
}

// -- the call bar -------------------------------------------------------------------------------------

function CallBar({ call }: { call: ActiveCall }) {
  const duration = useDuration(call.connectedAt);
  return (
    <div
      role="region"
      aria-label="Ongoing call"
      className="fixed inset-x-0 top-0 z-30 flex items-center gap-2 bg-green-700 px-3 py-1.5 text-sm text-white shadow"
    >
      <span className="min-w-0 flex-1 truncate">
        {call.video ? "Video call" : "Call"} with {call.peerName} · <span data-testid="call-status">{statusText(call, duration)}</span>
      </span>
      <Button size="sm" variant="secondary" onClick={() => useCallStore.getState().setViewOpen(true)}>
        Return to call
      </Button>
      <Button size="sm" variant="danger" aria-label="Hang up" onClick={() => calls.hangup()}>
        <HangUpIcon />
      </Button>
    </div>
  );
}

// -- the call view ------------------------------------------------------------------------------------

function CallView({ call }: { call: ActiveCall }) {
  const media = useMedia();
  const duration = useDuration(call.connectedAt);
  const error = useCallStore((s) => s.error);
  const [details, setDetails] = useState(false);
  const remoteVideo = useStream<HTMLVideoElement>(media.remote);
  const remoteScreen = useStream<HTMLVideoElement>(media.remoteScreen);
  const showRemoteVideo = call.remoteHasVideo && !call.remoteCameraOff;
  const sharing = call.remoteScreensharing && media.remoteScreen;
  return (
    <div
      role="dialog"
      aria-modal="true"
      aria-label={`Call with ${call.peerName}`}
      data-call-phase={call.phase}
      data-call-id={call.callId}
      className="fixed inset-0 z-30 flex flex-col bg-neutral-950 text-white"
    >
      <header className="flex items-center gap-3 px-4 py-3">
        <Avatar id={call.peerUserId} name={call.peerName} size={36} />
        <div className="min-w-0 flex-1">
          <h2 className="truncate font-semibold">{call.peerName}</h2>
          <p className="text-xs text-white/70" data-testid="call-status" aria-live="polite">
            {statusText(call, duration)}
          </p>
        </div>
        <QualityIndicator onClick={() => setDetails((d) => !d)} open={details} />
        <Button
          variant="ghost"
          size="icon"
          className="text-white hover:bg-white/10"
          aria-label="Back to chats (the call continues)"
          onClick={() => useCallStore.getState().setViewOpen(false)}
        >
          <MinimizeIcon />
        </Button>
      </header>
      <div className="relative min-h-0 flex-1 overflow-hidden" data-testid="call-stage">
        {sharing ? (
          <video ref={remoteScreen} autoPlay playsInline muted aria-label={`${call.peerName}'s screen`} className="h-full w-full object-contain" />
        ) : null}
        <video
          ref={remoteVideo}
          autoPlay
          playsInline
          muted
          aria-label={`${call.peerName}'s camera`}
          className={cn(
            sharing ? "absolute bottom-3 left-3 w-40 rounded-lg border border-white/20 sm:w-56" : "h-full w-full object-contain",
            showRemoteVideo ? "" : "hidden",
          )}
        />
        {!showRemoteVideo && !sharing && (
          <div className="flex h-full flex-col items-center justify-center gap-3">
            <Avatar id={call.peerUserId} name={call.peerName} size={120} />
            {call.video && call.phase === "connected" && <p className="text-sm text-white/70">{call.peerName}'s camera is off</p>}
          </div>
        )}
        {call.remoteMicMuted && call.phase === "connected" && (
          <p role="status" data-testid="remote-muted" className="absolute left-1/2 top-3 -translate-x-1/2 rounded-full bg-black/60 px-3 py-1 text-xs">
            {call.peerName} muted their microphone
          </p>
        )}
        {sharing && <p className="absolute left-3 top-3 rounded bg-black/60 px-2 py-1 text-xs">{call.peerName} is sharing their screen</p>}
        <SelfView call={call} local={media.local} localScreen={media.localScreen} />
        {details && <DetailsPanel onClose={() => setDetails(false)} />}
      </div>
      {error && (
        <p role="alert" className="mx-4 mb-2 rounded-lg bg-danger/90 px-3 py-2 text-sm">
          {error}
        </p>
      )}
      <Controls call={call} />
    </div>
  );
}

/** The self view: a small picture in a corner that can be dragged anywhere over the stage. */
function SelfView({ call, local, localScreen }: { call: ActiveCall; local: MediaStream | null; localScreen: MediaStream | null }) {
  const ref = useStream<HTMLVideoElement>(localScreen ?? local);
  const [pos, setPos] = useState<{ x: number; y: number } | null>(null);
  const drag = useRef<{ dx: number; dy: number } | null>(null);
  const box = useRef<HTMLDivElement>(null);
  if (call.cameraOff && !localScreen) return null;
  const onDown = (e: ReactPointerEvent<HTMLDivElement>) => {
    const r = box.current!.getBoundingClientRect();
    const parent = box.current!.offsetParent!.getBoundingClientRect();
    drag.current = { dx: e.clientX - r.left + parent.left, dy: e.clientY - r.top + parent.top };
    box.current!.setPointerCapture(e.pointerId);
  };
  const onMove = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (!drag.current || !box.current) return;
    const parent = box.current.offsetParent!.getBoundingClientRect();
    const w = box.current.offsetWidth;
    const h = box.current.offsetHeight;
    setPos({
      x: Math.min(Math.max(0, e.clientX - drag.current.dx), parent.width - w),
      y: Math.min(Math.max(0, e.clientY - drag.current.dy), parent.height - h),
    });
  };
  return (
    <div
      ref={box}
      data-testid="self-view"
      aria-label="Your camera (drag to move)"
      onPointerDown={onDown}
      onPointerMove={onMove}
      onPointerUp={() => (drag.current = null)}
      style={pos ? { left: pos.x, top: pos.y } : { right: 12, bottom: 12 }}
      className="absolute w-28 cursor-move touch-none overflow-hidden rounded-lg border border-white/30 bg-black shadow-lg sm:w-44"
    >
      <video ref={ref} autoPlay playsInline muted className="block w-full -scale-x-100" />
      {localScreen && <span className="absolute bottom-1 left-1 rounded bg-black/60 px-1 text-[10px]">Your screen</span>}
    </div>
  );
}

function ControlButton({ label, pressed, onClick, children, danger }: {
  label: string;
  pressed?: boolean;
  onClick(): void;
  children: React.ReactNode;
  danger?: boolean;
}) {
  return (
    <Button
      variant={danger ? "danger" : "ghost"}
      size="icon"
      aria-label={label}
      aria-pressed={pressed}
      title={label}
      onClick={onClick}
      className={cn("h-12 w-12 rounded-full", danger ? "" : pressed ? "bg-white text-neutral-900 hover:bg-white/90" : "bg-white/10 text-white hover:bg-white/20")}
    >
      {children}
    </Button>
  );
}

function Controls({ call }: { call: ActiveCall }) {
  const live = call.phase === "connected" || call.phase === "connecting";
  return (
    <div className="flex flex-wrap items-center justify-center gap-3 px-4 pb-6 pt-3" role="toolbar" aria-label="Call controls">
      <ControlButton label={call.micMuted ? "Unmute microphone" : "Mute microphone"} pressed={call.micMuted} onClick={() => void calls.setMicMuted(!call.micMuted)}>
        {call.micMuted ? <MicOffIcon /> : <MicIcon />}
      </ControlButton>
      <ControlButton label={call.cameraOff ? "Turn camera on" : "Turn camera off"} pressed={call.cameraOff} onClick={() => void calls.setCameraOff(!call.cameraOff)}>
        {call.cameraOff ? <CameraOffIcon /> : <CameraIcon />}
      </ControlButton>
      {live && (
        <ControlButton
          label={call.screensharing ? "Stop sharing your screen" : "Share your screen"}
          pressed={call.screensharing}
          onClick={() => void calls.setScreensharing(!call.screensharing)}
        >
          <ScreenIcon />
        </ControlButton>
      )}
      {call.phase === "connected" && (
        <ControlButton label={call.onHold ? "Resume the call" : "Put the call on hold"} pressed={call.onHold} onClick={() => calls.setHold(!call.onHold)}>
          <PauseIcon />
        </ControlButton>
      )}
      <DeviceMenu />
      <ControlButton label="Hang up" danger onClick={() => calls.hangup()}>
        <HangUpIcon />
      </ControlButton>
    </div>
  );
}

/** Switch microphone, camera and speaker during the call. */
function DeviceMenu() {
  const [devices, setDevices] = useState<DeviceLists | null>(null);
  const [prefs, setPrefs] = useState(loadDevicePreferences);
  const load = () => void listDevices().then(setDevices);
  const choose = async (kind: "audioinput" | "videoinput" | "audiooutput", id: string) => {
    const next = {
      ...prefs,
      ...(kind === "audioinput" ? { audioInput: id } : kind === "videoinput" ? { videoInput: id } : { audioOutput: id }),
    };
    setPrefs(next);
    saveDevicePreferences(next);
    if (kind === "audiooutput") {
      for (const el of document.querySelectorAll<HTMLMediaElement>("[data-testid=call-remote-audio]")) await applySpeaker(el, id);
    } else {
      await calls.switchInput(kind, id);
    }
  };
  const section = (kind: "audioinput" | "videoinput" | "audiooutput", title: string, value: string | undefined) => {
    const list = devices?.[kind] ?? [];
    if (!list.length) return null;
    return (
      <>
        <DropdownMenuLabel>{title}</DropdownMenuLabel>
        <DropdownMenuRadioGroup value={value ?? list[0].deviceId} onValueChange={(id) => void choose(kind, id)}>
          {list.map((d, i) => (
            <DropdownMenuRadioItem key={d.deviceId || i} value={d.deviceId}>
              {d.label || `${title} ${i + 1}`}
            </DropdownMenuRadioItem>
          ))}
        </DropdownMenuRadioGroup>
      </>
    );
  };
  return (
    <DropdownMenu onOpenChange={(open) => open && load()}>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" size="icon" aria-label="Microphone, camera and speaker" className="h-12 w-12 rounded-full bg-white/10 text-white hover:bg-white/20">
          <SettingsIcon />
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent className="max-h-96 overflow-y-auto">
        {section("audioinput", "Microphone", prefs.audioInput)}
        <DropdownMenuSeparator />
        {section("videoinput", "Camera", prefs.videoInput)}
        {devices?.audiooutput.length ? <DropdownMenuSeparator /> : null}
        {section("audiooutput", "Speaker", prefs.audioOutput)}
      </DropdownMenuContent>
    </DropdownMenu>
  );
}

// -- quality --------------------------------------------------------------------------------------------

function QualityIndicator({ onClick, open }: { onClick(): void; open: boolean }) {
  const quality = useCallStore((s) => s.quality);
  const bars = quality === "good" ? 3 : quality === "fair" ? 2 : quality === "poor" ? 1 : 0;
  const colour = quality === "good" ? "text-green-400" : quality === "fair" ? "text-yellow-300" : quality === "poor" ? "text-red-400" : "text-white/50";
  return (
    <button
      type="button"
      onClick={onClick}
      aria-expanded={open}
      aria-label={`${qualityLabel(quality)}: details`}
      data-quality={quality}
      className={cn("flex items-center gap-1 rounded-md px-2 py-1 text-xs hover:bg-white/10", colour)}
    >
      <SignalIcon bars={bars} />
      <span className="hidden sm:inline">{qualityLabel(quality)}</span>
    </button>
  );
}

function fmt(v: number | null, unit: string, digits = 0): string {
  return v === null ? "–" : `${v.toFixed(digits)} ${unit}`;
}

function DetailsPanel({ onClose }: { onClose(): void }) {
  const stats = useCallStore((s) => s.stats);
  const quality = useCallStore((s) => s.quality);
  return (
    <section
      aria-label="Connection details"
      className="absolute right-3 top-3 z-10 w-72 max-w-[calc(100%-1.5rem)] rounded-lg bg-black/80 p-3 text-xs shadow-lg"
    >
      <div className="mb-2 flex items-center justify-between">
        <h3 className="font-semibold">{qualityLabel(quality)}</h3>
        <button type="button" className="rounded px-1 hover:bg-white/10" aria-label="Close details" onClick={onClose}>
          ✕
        </button>
      </div>
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
        <dt className="text-white/60">Route</dt>
        <dd data-testid="call-route" data-route={stats?.route ?? ""}>{stats ? routeLabel(stats) : "–"}</dd>
        <dt className="text-white/60">Candidates</dt>
        <dd>{stats?.localCandidateType ? `${stats.localCandidateType} ↔ ${stats.remoteCandidateType ?? "?"}` : "–"}</dd>
        <dt className="text-white/60">Round trip</dt>
        <dd>{fmt(stats?.rttMs ?? null, "ms")}</dd>
        <dt className="text-white/60">Packet loss</dt>
        <dd>{fmt(stats?.lossPercent ?? null, "%", 1)}</dd>
        <dt className="text-white/60">Jitter</dt>
        <dd>{fmt(stats?.jitterMs ?? null, "ms", 1)}</dd>
        <dt className="text-white/60">Sending</dt>
        <dd>{fmt(stats?.sendKbps ?? null, "kbit/s")}</dd>
        <dt className="text-white/60">Receiving</dt>
        <dd>{fmt(stats?.receiveKbps ?? null, "kbit/s")}</dd>
        {stats?.videoReceive && (
          <>
            <dt className="text-white/60">Video</dt>
            <dd>
              {stats.videoReceive.width}×{stats.videoReceive.height}
              {stats.videoReceive.fps !== null ? ` at ${stats.videoReceive.fps.toFixed(0)} fps` : ""}
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

// -- group calls ----------------------------------------------------------------------------------------

/** Before starting or joining a group call: what it means for privacy, and the size limit. */
function GroupCallPrompt({ roomId, roomName, starting }: { roomId: string; roomName: string; starting: boolean }) {
  const [busy, setBusy] = useState(false);
  const close = () => useCallStore.getState().setGroupPrompt(null);
  const join = (video: boolean) => {
    setBusy(true);
    close();
    void group.joinGroupCall(roomId, video).finally(() => setBusy(false));
  };
  return (
    <Dialog open onOpenChange={(open) => !open && close()}>
      <DialogContent title={starting ? `Start a group call in ${roomName}?` : `Join the group call in ${roomName}?`}>
        <div className="flex flex-col gap-3 text-sm">
          <p>
            In group calls the messages that set up the call (who connects to whom, network addresses) travel through
            the servers <strong>without end-to-end encryption</strong>. The sound, video and screens themselves stay
            encrypted between the devices (DTLS-SRTP).
          </p>
          <p className="text-fg-muted">
            Everyone sends to everyone, so a group call takes at most {GROUP_CALL_LIMIT} people.
          </p>
          <div className="flex flex-wrap justify-end gap-2">
            <Button variant="secondary" onClick={close}>
              Cancel
            </Button>
            <Button variant="secondary" disabled={busy} onClick={() => join(false)}>
              <MicIcon /> <span className="ml-1">{starting ? "Start with voice only" : "Join with voice only"}</span>
            </Button>
            <Button disabled={busy} onClick={() => join(true)}>
              <CameraIcon /> <span className="ml-1">{starting ? "Start with video" : "Join with video"}</span>
            </Button>
          </div>
        </div>
      </DialogContent>
    </Dialog>
  );
}

function useGroupStreams(): Map<string, MediaStream> {
  useCallStore((s) => s.mediaVersion);
  return group.groupStreams();
}

function GroupCallBar({ call }: { call: ActiveGroupCall }) {
  return (
    <div role="region" aria-label="Ongoing call" className="fixed inset-x-0 top-0 z-30 flex items-center gap-2 bg-green-700 px-3 py-1.5 text-sm text-white shadow">
      <span className="min-w-0 flex-1 truncate">
        Group call in {call.roomName} · {call.tiles.filter((t) => !t.screenshare).length} people
      </span>
      <Button size="sm" variant="secondary" onClick={() => useCallStore.getState().setViewOpen(true)}>
        Return to call
      </Button>
      <Button size="sm" variant="danger" aria-label="Leave the call" onClick={() => void group.leaveGroupCall()}>
        <HangUpIcon />
      </Button>
    </div>
  );
}

function GroupCallView({ call }: { call: ActiveGroupCall }) {
  const streams = useGroupStreams();
  const people = call.tiles.filter((t) => !t.screenshare).length;
  const cols = call.tiles.length <= 1 ? "grid-cols-1" : call.tiles.length <= 4 ? "grid-cols-1 sm:grid-cols-2" : "grid-cols-2 sm:grid-cols-3";
  return (
    <div
      role="dialog"
      aria-modal="true"
      aria-label={`Group call in ${call.roomName}`}
      data-group-call-size={people}
      className="fixed inset-0 z-30 flex flex-col bg-neutral-950 text-white"
    >
      <header className="flex items-center gap-3 px-4 py-3">
        <div className="min-w-0 flex-1">
          <h2 className="truncate font-semibold">{call.roomName}</h2>
          <p className="text-xs text-white/70" data-testid="group-call-status">
            {people} {people === 1 ? "person" : "people"} in the call · set-up messages not end-to-end encrypted
          </p>
        </div>
        <Button
          variant="ghost"
          size="icon"
          className="text-white hover:bg-white/10"
          aria-label="Back to chats (the call continues)"
          onClick={() => useCallStore.getState().setViewOpen(false)}
        >
          <MinimizeIcon />
        </Button>
      </header>
      <ul className={cn("grid min-h-0 flex-1 auto-rows-fr gap-2 overflow-y-auto p-2", cols)} aria-label="Participants">
        {call.tiles.map((tile) => (
          <GroupTileView key={tile.key} tile={tile} stream={streams.get(tile.key) ?? null} />
        ))}
      </ul>
      <div className="flex flex-wrap items-center justify-center gap-3 px-4 pb-6 pt-3" role="toolbar" aria-label="Call controls">
        <ControlButton label={call.micMuted ? "Unmute microphone" : "Mute microphone"} pressed={call.micMuted} onClick={() => void group.setGroupMicMuted(!call.micMuted)}>
          {call.micMuted ? <MicOffIcon /> : <MicIcon />}
        </ControlButton>
        {call.video && (
          <ControlButton label={call.cameraOff ? "Turn camera on" : "Turn camera off"} pressed={call.cameraOff} onClick={() => void group.setGroupCameraOff(!call.cameraOff)}>
            {call.cameraOff ? <CameraOffIcon /> : <CameraIcon />}
          </ControlButton>
        )}
        <ControlButton
          label={call.screensharing ? "Stop sharing your screen" : "Share your screen"}
          pressed={call.screensharing}
          onClick={() => void group.setGroupScreensharing(!call.screensharing)}
        >
          <ScreenIcon />
        </ControlButton>
        <ControlButton label="Leave the call" danger onClick={() => void group.leaveGroupCall()}>
          <HangUpIcon />
        </ControlButton>
      </div>
    </div>
  );
}

function GroupTileView({ tile, stream }: { tile: GroupTile; stream: MediaStream | null }) {
  const video = useStream<HTMLVideoElement>(stream);
  const audio = useStream<HTMLAudioElement>(tile.isLocal || tile.screenshare ? null : stream);
  useEffect(() => {
    if (audio.current) void applySpeaker(audio.current, loadDevicePreferences().audioOutput);
  }, [audio]);
  const showVideo = !tile.videoMuted && stream !== null && stream.getVideoTracks().length > 0;
  return (
    <li
      aria-label={tile.isLocal && !tile.screenshare ? `${tile.name} (you)` : tile.name}
      data-speaking={tile.speaking ? "true" : undefined}
      data-user-id={tile.userId}
      className={cn(
        "relative flex min-h-32 items-center justify-center overflow-hidden rounded-lg bg-neutral-800",
        tile.speaking && "ring-4 ring-green-400",
      )}
    >
      <video ref={video} autoPlay playsInline muted className={cn("h-full w-full object-contain", showVideo ? "" : "hidden", tile.isLocal && !tile.screenshare && "-scale-x-100")} />
      {!showVideo && <Avatar id={tile.userId} name={tile.name} size={72} />}
      {!tile.isLocal && !tile.screenshare && <audio ref={audio} autoPlay data-testid="group-call-audio" className="hidden" />}
      <span className="absolute bottom-1 left-1 flex items-center gap-1 rounded bg-black/60 px-2 py-0.5 text-xs">
        {tile.audioMuted && !tile.screenshare && <span aria-label="muted"><MicOffIcon /></span>}
        {tile.isLocal && !tile.screenshare ? "You" : tile.name}
        {tile.speaking && <span className="sr-only"> (speaking)</span>}
      </span>
    </li>
  );
}
