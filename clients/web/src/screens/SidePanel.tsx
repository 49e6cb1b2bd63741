/**
 * The conversation's side panel: a column beside the conversation on a wide screen, a sheet over its
 * right side on a tablet, and a full-screen view with a back button on a phone. It shows one thing at
 * a time (`rightPanel` in the ui store): the member list and profiles today; another panel (a thread)
 * adds a `kind` there and a case here, and uses `PanelHeader` for the same back / close buttons.
 */
import { useEffect, type ReactNode } from "react";
import { BackIcon } from "@/components/icons";
import { CloseIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";
import { MemberPanel } from "./MemberPanel";

/** Phones get the panel full screen instead of the conversation. */
export function isPhoneWidth(): boolean {
  return typeof matchMedia !== "undefined" && !matchMedia("(min-width: 768px)").matches;
}

export function SidePanel({ roomId }: { roomId: string }) {
  const panel = useUiStore((s) => s.rightPanel);

  useEffect(
    () =>
      useAppStore.subscribe((s, prev) => {
        if (s.selectedRoomId === prev.selectedRoomId) return;
        const ui = useUiStore.getState();
        // On a phone a new (or no) conversation shows itself, not the panel; elsewhere a profile
        // belongs to its room, so the panel goes back to the new room's list.
        if (isPhoneWidth()) ui.setRightPanel(null);
        else if (ui.rightPanel?.kind === "members" && ui.rightPanel.userId) ui.setRightPanel({ kind: "members", userId: null });
      }),
    [],
  );

  if (!panel) return null;
  return (
    <aside
      aria-label={panel.kind === "members" ? (panel.userId ? "Member details" : "Members") : "Side panel"}
      data-side-panel={panel.kind}
      className={
        "flex w-full min-w-0 flex-col bg-bg md:fixed md:inset-y-0 md:right-0 md:z-30 md:w-80 md:border-l md:border-border " +
        "md:shadow-xl lg:static lg:z-auto lg:shadow-none"
      }
    >
      {panel.kind === "members" && <MemberPanel roomId={roomId} userId={panel.userId} />}
    </aside>
  );
}

/**
 * A panel's title row. `back` (e.g. from a profile to the list) shows on every screen; without it a
 * phone gets "Back to conversation". Wider screens always get a close button.
 */
export function PanelHeader({ title, back, children }: { title: string; back?: { label: string; run: () => void }; children?: ReactNode }) {
  const close = () => useUiStore.getState().setRightPanel(null);
  return (
    <header className="flex items-center gap-2 border-b border-border px-3 py-2">
      {back ? (
        <Button variant="ghost" size="icon" aria-label={back.label} onClick={back.run}>
          <BackIcon />
        </Button>
      ) : (
        <Button variant="ghost" size="icon" className="md:hidden" aria-label="Back to conversation" onClick={close}>
          <BackIcon />
        </Button>
      )}
      <h2 className="min-w-0 flex-1 truncate font-semibold">{title}</h2>
      {children}
      <Button variant="ghost" size="icon" className="max-md:hidden" aria-label="Close panel" onClick={close}>
        <CloseIcon />
      </Button>
    </header>
  );
}
