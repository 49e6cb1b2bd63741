import { MoonIcon, SunIcon, SystemIcon } from "@/components/icons";
import { Button } from "@/components/ui/button";
import type { ThemePreference } from "@/lib/theme";
import { useAppStore } from "@/store/app";

const NEXT: Record<ThemePreference, ThemePreference> = { system: "light", light: "dark", dark: "system" };
const ICON = { light: SunIcon, dark: MoonIcon, system: SystemIcon };

/** One button cycling system -> light -> dark (a menu would pull the popper code into the login page). */
export function ThemeToggle() {
  const theme = useAppStore((s) => s.theme);
  const setTheme = useAppStore((s) => s.setTheme);
  const CurrentIcon = ICON[theme];
  return (
    <Button
      variant="ghost"
      size="icon"
      aria-label={`Theme: ${theme}. Switch to ${NEXT[theme]}`}
      title={`Theme: ${theme}`}
      onClick={() => setTheme(NEXT[theme])}
    >
      <CurrentIcon />
    </Button>
  );
}
