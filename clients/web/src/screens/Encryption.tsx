import { useState, type FormEvent } from "react";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { Input, Label } from "@/components/ui/input";
import { describeError } from "@/lib/errors";
import * as session from "@/matrix/session";
import { useAppStore } from "@/store/app";

/** Tells the user what encryption needs from them: a recovery key, or their password for the first setup. */
export function EncryptionBanner() {
  const crypto = useAppStore((s) => s.crypto);
  const [dialog, setDialog] = useState<"recovery" | "setup" | null>(null);
  const show = crypto.status === "needs-recovery-key" || crypto.status === "needs-setup" || crypto.status === "unavailable";
  // The dialogs outlive the banner: success hides the banner but the dialog still says what happened.
  const dialogs = (
    <>
      <EnterRecoveryKeyDialog open={dialog === "recovery"} onClose={() => setDialog(null)} />
      <SetUpDialog open={dialog === "setup"} onClose={() => setDialog(null)} />
    </>
  );
  return (
    <>
      {show && <Banner status={crypto.status} message={crypto.message} onOpen={setDialog} />}
      {dialogs}
    </>
  );
}

function Banner({
  status,
  message,
  onOpen,
}: {
  status: string;
  message?: string;
  onOpen(dialog: "recovery" | "setup"): void;
}) {
  return (
    <div role="status" className="flex flex-wrap items-center gap-2 border-b border-border bg-muted px-3 py-2 text-sm">
      <span className="flex-1">
        {status === "needs-recovery-key"
          ? "Enter your recovery key to read your encrypted history on this device."
          : (message ?? "Encrypted message backup is not set up.")}
      </span>
      {status === "needs-recovery-key" && (
        <Button size="sm" onClick={() => onOpen("recovery")}>
          Enter recovery key
        </Button>
      )}
      {status === "needs-setup" && (
        <Button size="sm" onClick={() => onOpen("setup")}>
          Set up
        </Button>
      )}
    </div>
  );
}

function EnterRecoveryKeyDialog({ open, onClose }: { open: boolean; onClose(): void }) {
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

  return (
    <Dialog open={open} onOpenChange={(o) => !o && onClose()}>
      <DialogContent title="Enter recovery key" description="The key you saved when you first set up this account.">
        {done !== null ? (
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
          </form>
        )}
      </DialogContent>
    </Dialog>
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
      <DialogContent title="Set up encrypted backup" description="Your account password confirms it is you.">
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

/** The recovery key, shown once after setup. The user must confirm they saved it. */
export function RecoveryKeyDialog() {
  const recoveryKey = useAppStore((s) => s.recoveryKey);
  const [copied, setCopied] = useState(false);
  if (!recoveryKey) return null;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(recoveryKey);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <Dialog open>
      <DialogContent
        dismissable={false}
        title="Save your recovery key"
        description="You need it to read your encrypted messages on a new device. Keep it somewhere safe, like a password manager. It is not your password."
      >
        <code
          data-testid="recovery-key"
          className="block select-all break-all rounded-lg bg-muted p-3 font-mono text-sm tracking-wide"
        >
          {recoveryKey}
        </code>
        <div className="mt-4 flex gap-2">
          <Button variant="secondary" className="flex-1" onClick={() => void copy()}>
            {copied ? "Copied" : "Copy"}
          </Button>
          <Button className="flex-1" onClick={() => useAppStore.getState().setRecoveryKey(null)}>
            I saved it
          </Button>
        </div>
      </DialogContent>
    </Dialog>
  );
}
