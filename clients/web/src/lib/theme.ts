/** Light, dark or follow the system; remembered in localStorage and applied as the `dark` class on <html>. */

export type ThemePreference = "light" | "dark" | "system";
export const THEME_KEY = "hs.theme";

export function loadTheme(storage: Pick<Storage, "getItem">): ThemePreference {
  const value = storage.getItem(THEME_KEY);
  return value === "light" || value === "dark" || value === "system" ? value : "system";
}

export function saveTheme(storage: Pick<Storage, "setItem">, theme: ThemePreference): void {
  storage.setItem(THEME_KEY, theme);
}

export function isDark(theme: ThemePreference, systemPrefersDark: boolean): boolean {
  return theme === "dark" || (theme === "system" && systemPrefersDark);
}

export function applyTheme(theme: ThemePreference): void {
  if (typeof document === "undefined") return;
  const systemDark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
  document.documentElement.classList.toggle("dark", isDark(theme, systemDark));
}
