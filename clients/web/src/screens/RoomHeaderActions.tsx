/** The conversation header's buttons: search, members (toggles the side panel), settings. */
import { GearIcon, PeopleIcon, PhoneIcon, SearchIcon, VideoIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { useAppStore } from "@/store/app";
import { useCallStore } from "@/store/call";
import { useUiStore } from "@/store/ui";

/** Voice and video call buttons, in a direct chat (the call code loads when one is pressed). */
function CallButtons({ roomId }: { roomId: string }) {
  const direct = useAppStore((s) => s.rooms.find((r) => r.roomId === roomId && r.membership === "join")?.isDirect ?? false);
  const inCall = useCallStore((s) => s.call !== null);
  if (!direct) return null;
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
