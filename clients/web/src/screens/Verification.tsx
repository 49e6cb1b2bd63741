/** The emoji verification dialog: our request, or an incoming request from another of our sessions. */
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { describeError } from "@/lib/errors";
import { acceptIncoming, cancelVerification, closeVerification, confirmEmojis, rejectEmojis, useVerificationStore } from "@/matrix/verification";
import { toastError } from "@/store/ui";

export function VerificationDialog() {
  const view = useVerificationStore();
  if (view.stage === "idle") return null;
  const other = view.otherDevice ? `session ${view.otherDevice}` : "your other session";
  const finish = view.stage === "done" || view.stage === "cancelled";
  return (
    <Dialog open onOpenChange={(open) => !open && (finish ? closeVerification() : cancelVerification())}>
      <DialogContent title={view.stage === "incoming" ? "Verify this session?" : "Verify your session"}>
        <div className="space-y-4 text-sm" data-verification-stage={view.stage}>
          {view.stage === "incoming" && (
            <>
              <p>Your {other} wants to verify. Accept if you started this yourself, then compare emojis on both screens.</p>
              <div className="flex justify-end gap-2">
                <Button variant="secondary" onClick={cancelVerification}>Decline</Button>
                <Button onClick={() => acceptIncoming().catch((e) => toastError(describeError(e)))}>Accept</Button>
              </div>
            </>
          )}
          {view.stage === "waiting" && (
            <>
              <p role="status">Waiting for your other session… Open it and accept the request there.</p>
              <div className="flex justify-end"><Button variant="secondary" onClick={cancelVerification}>Cancel</Button></div>
            </>
          )}
          {view.stage === "ready" && <p role="status">Accepted. Waiting for the other session to start…</p>}
          {(view.stage === "emoji" || view.stage === "confirming") && (
            <>
              <p>Check that the same emojis appear, in the same order, on {other}.</p>
              <ol className="grid grid-cols-4 gap-3 sm:grid-cols-7" aria-label="Emojis to compare">
                {view.emojis?.map((e, i) => (
                  <li key={i} className="flex flex-col items-center text-center">
                    <span className="text-3xl" aria-hidden="true">{e.symbol}</span>
                    <span className="text-xs">{e.name}</span>
                  </li>
                ))}
              </ol>
              {view.stage === "confirming" ? (
                <p role="status">Waiting for the other session to confirm…</p>
              ) : (
                <div className="flex justify-end gap-2">
                  <Button variant="secondary" onClick={rejectEmojis}>They don't match</Button>
                  <Button onClick={() => confirmEmojis().catch((e) => toastError(describeError(e)))}>They match</Button>
                </div>
              )}
            </>
          )}
          {view.stage === "done" && (
            <>
              <p role="status">Verified. Your sessions trust each other now.</p>
              <div className="flex justify-end"><Button onClick={closeVerification}>Done</Button></div>
            </>
          )}
          {view.stage === "cancelled" && (
            <>
              <p role="alert">{view.reason ?? "The verification was cancelled."} You can start again from Settings, Sessions.</p>
              <div className="flex justify-end"><Button onClick={closeVerification}>Close</Button></div>
            </>
          )}
        </div>
      </DialogContent>
    </Dialog>
  );
}
