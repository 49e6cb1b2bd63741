/**
 * The phone layout's bottom navigation (hidden on wider screens, where both panes show): the
 * conversation list, the requests (invitations), search across conversations, and settings.
 */
import type { ReactNode } from "react";
import { ChatsIcon, InboxIcon } from "@/components/icons";
import { GearIcon, SearchIcon } from "@/components/feature-icons";
import { cn } from "@/lib/cn";
import { unreadLabel } from "@/lib/rooms";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";

export type PhoneView = "chats" | "requests";

export function PhoneNav({ view, onView }: { view: PhoneView; onView(view: PhoneView): void }) {
  const rooms = useAppStore((s) => s.rooms);
  const unreadRooms = rooms.filter((r) => r.membership === "join" && r.unread > 0).length;
  const requests = rooms.filter((r) => r.membership === "invite").length;
  const ui = useUiStore.getState;
  return (
    <nav aria-label="Main" className="flex shrink-0 border-t border-border bg-panel md:hidden">
      <NavButton label="Chats" current={view === "chats"} badge={unreadRooms} onClick={() => onView("chats")}>
        <ChatsIcon />
      </NavButton>
      <NavButton label="Requests" current={view === "requests"} badge={requests} onClick={() => onView("requests")}>
        <InboxIcon />
      </NavButton>
      <NavButton label="Search" name="Search all messages" onClick={() => ui().setSearchOpen({ roomId: null })}>
        <SearchIcon />
      </NavButton>
      <NavButton label="Settings" name="Profile and settings" onClick={() => ui().setSettingsOpen(true)}>
        <GearIcon />
      </NavButton>
    </nav>
  );
}

function NavButton({ label, name = label, current, badge = 0, onClick, children }: {
  label: string;
  /** The accessible name, when it says more than the visible label (which it contains). */
  name?: string;
  current?: boolean;
  badge?: number;
  onClick(): void;
  children: ReactNode;
}) {
  return (
    <button
      type="button"
      onClick={onClick}
      aria-current={current ? "page" : undefined}
      aria-label={badge > 0 ? `${name}, ${badge} new` : name}
      className={cn(
        "relative flex flex-1 flex-col items-center gap-0.5 py-2 text-xs",
        "focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-ring",
        current ? "font-semibold text-accent" : "text-fg-muted",
      )}
    >
      {children}
      <span aria-hidden="true">{label}</span>
      {badge > 0 && (
        <span
          aria-hidden="true"
          className="absolute left-1/2 top-1 ml-2 min-w-4 rounded-full bg-accent px-1 text-center text-[10px] font-semibold leading-4 text-accent-fg"
        >
          {unreadLabel(badge)}
        </span>
      )}
    </button>
  );
}
