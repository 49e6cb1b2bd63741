/** The conversation header's buttons: search, members (toggles the side panel), settings. */
import { GearIcon, PeopleIcon, SearchIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { useUiStore } from "@/store/ui";

export function RoomHeaderActions({ roomId }: { roomId: string }) {
  const ui = useUiStore.getState;
  const membersOpen = useUiStore((s) => s.rightPanel?.kind === "members");
  return (
    <div className="flex shrink-0 items-center gap-1">
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
