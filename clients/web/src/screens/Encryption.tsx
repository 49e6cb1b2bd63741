import { useState, type FormEvent } from "react";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { Input, Label } from "@/components/ui/input";
import { recoveryKeyFile } from "@/lib/encryption";
import { describeError } from "@/lib/errors";
import * as session from "@/matrix/session";
import { requestOwnVerification } from "@/matrix/verification";
import { useAppStore } from "@/store/app";

type EncryptionDialog = "recovery" | "setup" | "reset" | null;

const BANNER_TEXT: Record<string, string> = {
  "needs-recovery-key": "Enter your recovery key to read your encrypted history on this device.",
  "needs-verification":
    "Your account has no recovery key yet. Verify this session from another of your sessions, or reset encryption.",
  "needs-recovery-setup": "Your encrypted messages are not backed up. Set up a recovery key to read them on new devices.",
};

/** Tells the user what encryption needs from them: a recovery key, a verification, their password, a backup. */
export function EncryptionBanner() {
  const crypto = useAppStore((s) => s.crypto);
  const [dialog, setDialog] = useState<EncryptionDialog>(null);
  const [error, setError] = useState<string | null>(null);
  const show = crypto.status in BANNER_TEXT || crypto.status === "needs-setup" || crypto.status === "unavailable";
  const act = (run: () => Promise<void>) => {
    setError(null);
    run().catch((e) => setError(describeError(e)));
  };
  return (
    <>
      {show && (
        <div role="status" className="flex flex-wrap items-center gap-2 border-b border-border bg-muted px-3 py-2 text-sm">
          <span className="flex-1">
            {BANNER_TEXT[crypto.status] ?? crypto.message ?? "Encrypted message backup is not set up."}
            {error && <span role="alert" className="ml-2 text-danger">{error}</span>}
          </span>
          {crypto.status === "needs-recovery-key" && (
            <>
              <Button size="sm" onClick={() => setDialog("recovery")}>Enter recovery key</Button>
              <Button size="sm" variant="ghost" onClick={() => setDialog("reset")}>I lost my recovery key</Button>
            </>
          )}
          {crypto.status === "needs-verification" && (
            <>
              <Button size="sm" onClick={() => act(() => requestOwnVerification(session.getClient()))}>
                Verify with another session
              </Button>
              <Button size="sm" variant="ghost" onClick={() => setDialog("reset")}>Reset encryption</Button>
            </>
          )}
          {crypto.status === "needs-recovery-setup" && (
            <Button size="sm" onClick={() => act(session.offerRecoveryKey)}>Set up recovery key</Button>
          )}
          {crypto.status === "needs-setup" && (
            <Button size="sm" onClick={() => setDialog("setup")}>Set up</Button>
          )}
        </div>
      )}
      {/* The dialogs outlive the banner: success hides the banner but the dialog still says what happened. */}
      <EnterRecoveryKeyDialog open={dialog === "recovery"} onClose={() => setDialog(null)} onLost={() => setDialog("reset")} />
      <SetUpDialog open={dialog === "setup"} onClose={() => setDialog(null)} />
      <ResetEncryptionDialog open={dialog === "reset"} onClose={() => setDialog(null)} />
    </>
  );
}

function EnterRecoveryKeyDialog({ open, onClose, onLost }: { open: boolean; onClose(): void; onLost(): void }) {
  return (
    <Dialog open={open} onOpenChange={(o) => !o && onClose()}>
      <DialogContent title="Enter recovery key" description="The key you saved when you set up encryption for this account.">
        <EnterRecoveryKeyForm onClose={onClose} onLost={onLost} />
      </DialogContent>
    </Dialog>
  );
}

/** Inside the dialog, so each opening starts empty. */
function EnterRecoveryKeyForm({ onClose, onLost }: { onClose(): void; onLost(): void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<number | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { imported } = await session.unlockWithRecoveryKey(key);
      setDone(imported);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return done !== null ? (
    <div className="space-y-4">
      <p>This device is verified. Restored the keys of {done} conversation sessions.</p>
      <Button className="w-full" onClick={onClose}>
        Done
      </Button>
    </div>
  ) : (
    <form onSubmit={submit} className="space-y-4">
      <div className="space-y-1">
        <Label htmlFor="recovery-key">Recovery key</Label>
        <Input
          id="recovery-key"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          placeholder="EsT… …"
        />
      </div>
      {error && (
        <p role="alert" className="text-sm text-danger">
          {error}
        </p>
      )}
      <Button type="submit" className="w-full" disabled={busy || !key.trim()}>
        {busy ? "Restoring…" : "Restore"}
      </Button>
      <Button variant="link" className="w-full" onClick={onLost}>
        I lost my recovery key
      </Button>
    </form>
  );
}

function SetUpDialog({ open, onClose }: { open: boolean; onClose(): void }) {
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    await session.setUpEncryption(password);
    setBusy(false);
    setPassword("");
    onClose();
  }
  return (
    <Dialog open={open} onOpenChange={(o) => !o && onClose()}>
      <DialogContent title="Set up encryption" description="Your account password confirms it is you.">
        <form onSubmit={submit} className="space-y-4">
          <div className="space-y-1">
            <Label htmlFor="setup-password">Account password</Label>
            <Input
              id="setup-password"
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          <Button type="submit" className="w-full" disabled={busy || !password}>
            {busy ? "Setting up…" : "Continue"}
          </Button>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function ResetEncryptionDialog({ open, onClose }: { open: boolean; onClose(): void }) {
  return (
    <Dialog open={open} onOpenChange={(o) => !o && onClose()}>
      <DialogContent title="Reset encryption" description="Only if you lost your recovery key and have no other signed-in session to verify this one.">
        <ResetEncryptionForm onDone={onClose} onCancel={onClose} />
      </DialogContent>
    </Dialog>
  );
}

/**
 * Reset with a clear warning and the password (user-interactive auth). After it, the recovery key
 * dialog offers the new key.
 */
export function ResetEncryptionForm({ onDone, onCancel }: { onDone(): void; onCancel(): void }) {
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.resetEncryption(password);
      setPassword("");
      onDone();
    } catch (err) {
      const status = (err as { httpStatus?: number }).httpStatus;
      setError(status === 401 || status === 403 ? "Wrong password. Nothing was changed; try again." : describeError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit} className="space-y-3 text-sm" aria-label="Reset encryption">
      <div role="note" className="space-y-1 rounded-lg border border-danger p-3">
        <p className="font-medium text-danger">What a reset does</p>
        <ul className="list-disc space-y-1 pl-5">
          <li>Your old encrypted messages become unreadable on this device and on any new one: the old backup and recovery key are replaced.</li>
          <li>Your other sessions and the people you talk to see new encryption keys; verify your sessions again.</li>
          <li>You get a new recovery key. Save it.</li>
        </ul>
      </div>
      <div className="space-y-1">
        <Label htmlFor="reset-password">Account password</Label>
        <Input id="reset-password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </div>
      {error && (
        <p role="alert" className="text-danger">
          {error}
        </p>
      )}
      <div className="flex flex-wrap justify-end gap-2">
        <Button variant="ghost" onClick={onCancel}>Cancel</Button>
        <Button type="submit" variant="danger" disabled={busy || !password}>
          {busy ? "Resetting…" : "Reset encryption"}
        </Button>
      </div>
    </form>
  );
}

/** Saves the key as a .txt file (a download, nothing leaves the browser). */
function downloadRecoveryKey(userId: string, recoveryKey: string): void {
  const file = recoveryKeyFile(userId, recoveryKey, new Date());
  const url = URL.createObjectURL(new Blob([file.text], { type: "text/plain;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = file.name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * A new recovery key with copy and download, and "I saved it", which stores secret storage and the backup
 * with it (nothing is stored before). Used by the recovery key dialog and the settings.
 */
export function RecoveryKeyPanel({
  recoveryKey,
  testId,
  onSaved,
  onCancel,
  cancelLabel,
}: {
  recoveryKey: string;
  testId: string;
  onSaved(): void;
  onCancel(): void;
  cancelLabel: string;
}) {
  const userId = useAppStore((s) => s.session?.userId ?? "");
  const [copied, setCopied] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(recoveryKey);
      setCopied(true);
    } catch {
      setError("The browser did not allow copying. Select the key and copy it, or download it.");
    }
  };
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      await session.saveRecoveryKey(recoveryKey);
      onSaved();
    } catch (e) {
      setError(`${describeError(e)} Your recovery key was not set up; try again.`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="space-y-3">
      <code data-testid={testId} className="block select-all break-all rounded-lg bg-muted p-3 font-mono text-sm tracking-wide">
        {recoveryKey}
      </code>
      <div className="flex flex-wrap gap-2">
        <Button variant="secondary" size="sm" className="flex-1" onClick={() => void copy()}>
          {copied ? "Copied" : "Copy"}
        </Button>
        <Button variant="secondary" size="sm" className="flex-1" onClick={() => downloadRecoveryKey(userId, recoveryKey)}>
          Download (.txt)
        </Button>
      </div>
      {error && (
        <p role="alert" className="text-sm text-danger">
          {error}
        </p>
      )}
      <div className="flex flex-wrap justify-end gap-2">
        <Button variant="ghost" disabled={busy} onClick={onCancel}>
          {cancelLabel}
        </Button>
        <Button disabled={busy} onClick={() => void save()}>
          {busy ? "Saving…" : "I saved it"}
        </Button>
      </div>
    </div>
  );
}

/** A new recovery key waiting for "I saved it" (first setup, the banner's offer, after a reset). */
export function RecoveryKeyDialog() {
  const recoveryKey = useAppStore((s) => s.recoveryKey);
  if (!recoveryKey) return null;
  return (
    <Dialog open>
      <DialogContent
        dismissable={false}
        title="Save your recovery key"
        description="You need it to read your encrypted messages on a new device. Keep it somewhere safe, like a password manager. It is not your password. Your message backup is set up with it once you confirm you saved it."
      >
        <RecoveryKeyPanel
          recoveryKey={recoveryKey}
          testId="recovery-key"
          onSaved={() => {}}
          onCancel={() => session.discardRecoveryKey(recoveryKey)}
          cancelLabel="Later"
        />
      </DialogContent>
    </Dialog>
  );
}
