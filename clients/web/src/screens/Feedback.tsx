/** Toasts (errors with a next step), the session-expired dialog and the connection banner. */
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { CloseIcon } from "@/components/feature-icons";
import { cn } from "@/lib/cn";
import * as session from "@/matrix/session";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";

export function Toaster() {
  const toasts = useUiStore((s) => s.toasts);
  const dismiss = useUiStore((s) => s.dismissToast);
  return (
    <section aria-label="Notifications" className="pointer-events-none fixed bottom-20 left-1/2 z-[60] flex w-[calc(100vw-2rem)] max-w-md -translate-x-1/2 flex-col gap-2">
      {toasts.map((t) => (
        <div
          key={t.id}
          role={t.kind === "error" ? "alert" : "status"}
          className={cn(
            "pointer-events-auto flex items-start gap-2 rounded-lg border px-3 py-2 text-sm shadow-lg",
            t.kind === "error" ? "border-danger bg-bg text-fg" : "border-border bg-bg text-fg",
          )}
        >
          <span className="flex-1">{t.text}</span>
          {t.action && (
            <Button size="sm" variant="link" onClick={() => (dismiss(t.id), t.action!.run())}>
              {t.action.label}
            </Button>
          )}
          <button type="button" aria-label="Dismiss" className="rounded p-0.5 hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" onClick={() => dismiss(t.id)}>
            <CloseIcon />
          </button>
        </div>
      ))}
    </section>
  );
}

export function SessionExpiredDialog() {
  const expired = useUiStore((s) => s.sessionExpired);
  const [leaving, setLeaving] = useState(false);
  if (!expired) return null;
  return (
    <Dialog open>
      <DialogContent title="You were signed out" dismissable={false}
        description={expired.soft
          ? "Your session expired. Log in again to continue."
          : "This session was ended, from another device or by the server. Log in again to continue."}>
        <p className="text-sm text-fg-muted">
          Messages in encrypted conversations need your recovery key again after logging in.
        </p>
        <div className="mt-4 flex justify-end">
          <Button
            disabled={leaving}
            onClick={() => {
              setLeaving(true);
              void session.forgetSession();
            }}
          >
            {leaving ? "Clearing this device…" : "Log in again"}
          </Button>
        </div>
      </DialogContent>
    </Dialog>
  );
}

/** Shown while the SDK cannot reach the server; the SDK retries by itself, "Retry now" skips the wait. */
export function ConnectionBanner() {
  const syncState = useAppStore((s) => s.syncState);
  if (syncState !== "ERROR" && syncState !== "RECONNECTING") return null;
  return (
    <div role="status" data-testid="connection-banner" className="flex items-center justify-center gap-3 bg-danger px-3 py-1 text-sm text-white">
      <span>Connection lost. Reconnecting automatically…</span>
      <button type="button" className="font-semibold underline" onClick={() => session.currentClient()?.retryImmediately()}>
        Retry now
      </button>
    </div>
  );
}
