/** The conversation header's buttons: search, members (toggles the side panel), settings. */
import { GearIcon, PeopleIcon, PhoneIcon, SearchIcon, VideoIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { useAppStore } from "@/store/app";
import { useCallStore } from "@/store/call";
import { useUiStore } from "@/store/ui";

/**
 * Voice and video call buttons in a direct chat; in a group, "Group call" (start or join, after a notice).
 * The call code loads when one is pressed.
 */
function CallButtons({ roomId }: { roomId: string }) {
  const room = useAppStore((s) => s.rooms.find((r) => r.roomId === roomId && r.membership === "join"));
  const direct = room?.isDirect ?? false;
  const inCall = useCallStore((s) => s.call !== null || s.group !== null);
  const groupCallHere = useCallStore((s) => roomId in s.roomCalls);
  if (!room) return null;
  if (!direct) {
    return (
      <Button
        variant="ghost"
        size="icon"
        aria-label={groupCallHere ? "Join the group call" : "Start a group call"}
        title={inCall ? "You are already in a call" : groupCallHere ? "Join the group call" : "Start a group call"}
        disabled={inCall}
        onClick={() => useCallStore.getState().setGroupPrompt({ roomId, roomName: room.name, starting: !groupCallHere })}
      >
        <VideoIcon />
      </Button>
    );
  }
  const place = (video: boolean) => {
    void import("@/calls/manager")
      .then((m) => m.placeCall(roomId, video))
      .catch((error) => {
        console.error("Could not start the call", error);
        useUiStore.getState().toast({ kind: "error", text: "The call could not start. Check your connection and try again." });
      });
  };
  return (
    <>
      <Button variant="ghost" size="icon" aria-label="Voice call" title={inCall ? "You are already in a call" : "Voice call"} disabled={inCall} onClick={() => place(false)}>
        <PhoneIcon />
      </Button>
      <Button variant="ghost" size="icon" aria-label="Video call" title={inCall ? "You are already in a call" : "Video call"} disabled={inCall} onClick={() => place(true)}>
        <VideoIcon />
      </Button>
    </>
  );
}

/** Under the header of a group with a call going on: who is in it, and "Join". */
export function GroupCallBanner({ roomId }: { roomId: string }) {
  const info = useCallStore((s) => s.roomCalls[roomId]);
  const inThisCall = useCallStore((s) => s.group?.roomId === roomId);
  const inCall = useCallStore((s) => s.call !== null || s.group !== null);
  const name = useAppStore((s) => s.rooms.find((r) => r.roomId === roomId)?.name ?? "");
  const direct = useAppStore((s) => s.rooms.find((r) => r.roomId === roomId)?.isDirect ?? false);
  if (!info || direct) return null;
  const names = info.participants.map((p) => p.name);
  return (
    <div role="region" aria-label="Group call in this room" className="flex items-center gap-2 border-b border-border bg-panel px-3 py-2 text-sm">
      <VideoIcon />
      <span className="min-w-0 flex-1 truncate">
        {info.video ? "Video call" : "Voice call"} going on: {names.join(", ")}
      </span>
      {inThisCall ? (
        <span className="text-fg-muted">You are in this call</span>
      ) : (
        <Button size="sm" disabled={inCall} onClick={() => useCallStore.getState().setGroupPrompt({ roomId, roomName: name, starting: false })}>
          Join
        </Button>
      )}
    </div>
  );
}

export function RoomHeaderActions({ roomId }: { roomId: string }) {
  const ui = useUiStore.getState;
  const membersOpen = useUiStore((s) => s.rightPanel?.kind === "members");
  return (
    <div className="flex shrink-0 items-center gap-1">
      <CallButtons roomId={roomId} />
      <Button variant="ghost" size="icon" aria-label="Search messages" onClick={() => ui().setSearchOpen({ roomId })}>
        <SearchIcon />
      </Button>
      <Button
        variant="ghost"
        size="icon"
        aria-label="Members"
        aria-pressed={membersOpen}
        className={membersOpen ? "bg-muted" : undefined}
        onClick={() => ui().setRightPanel(membersOpen ? null : { kind: "members", userId: null })}
      >
        <PeopleIcon />
      </Button>
      <Button variant="ghost" size="icon" aria-label="Conversation details" onClick={() => ui().setRoomSettingsRoomId(roomId)}>
        <GearIcon />
      </Button>
    </div>
  );
}
