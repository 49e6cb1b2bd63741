/** The conversation header's buttons: search, members, settings. */
import { GearIcon, PeopleIcon, SearchIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { useUiStore } from "@/store/ui";

export function RoomHeaderActions({ roomId }: { roomId: string }) {
  const ui = useUiStore.getState;
  return (
    <div className="flex shrink-0 items-center gap-1">
      <Button variant="ghost" size="icon" aria-label="Search messages" onClick={() => ui().setSearchOpen({ roomId })}>
        <SearchIcon />
      </Button>
      <Button variant="ghost" size="icon" aria-label="Members" onClick={() => ui().setMemberListRoomId(roomId)}>
        <PeopleIcon />
      </Button>
      <Button variant="ghost" size="icon" aria-label="Conversation details" onClick={() => ui().setRoomSettingsRoomId(roomId)}>
        <GearIcon />
      </Button>
    </div>
  );
}
