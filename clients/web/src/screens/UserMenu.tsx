import { useState } from "react";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";
import { ThemeChoices } from "@/components/ThemeChoices";
import * as session from "@/matrix/session";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";

export function UserMenu() {
  const me = useAppStore((s) => s.session);
  const theme = useAppStore((s) => s.theme);
  const setTheme = useAppStore((s) => s.setTheme);
  const [busy, setBusy] = useState(false);
  if (!me) return null;

  const logout = async (everywhere: boolean) => {
    setBusy(true);
    await session.logout(everywhere);
  };

  return (
    <DropdownMenu>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" size="icon" aria-label="Settings" disabled={busy}>
          <Avatar id={me.userId} name={me.userId} size={32} />
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent>
        <div className="truncate px-2 py-1.5 text-sm font-semibold">{me.userId}</div>
        <DropdownMenuItem onSelect={() => useUiStore.getState().setSettingsOpen(true)}>Profile and settings</DropdownMenuItem>
        <DropdownMenuItem onSelect={() => useUiStore.getState().setSearchOpen({ roomId: null })}>Search all messages</DropdownMenuItem>
        <DropdownMenuSeparator />
        <ThemeChoices value={theme} onChange={setTheme} />
        <DropdownMenuSeparator />
        <DropdownMenuItem onSelect={() => void logout(false)}>Log out</DropdownMenuItem>
        <DropdownMenuItem onSelect={() => void logout(true)} className="text-danger">
          Log out of all devices
        </DropdownMenuItem>
      </DropdownMenuContent>
    </DropdownMenu>
  );
}
