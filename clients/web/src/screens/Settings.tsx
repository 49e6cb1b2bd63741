/**
 * Profile and settings: display name and avatar, theme, sessions (rename, sign out with the password,
 * verify with emojis), the recovery key, desktop notifications, and the people you blocked.
 */
import { lazy, Suspense, useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { ListSkeleton } from "@/components/Skeleton";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { Input, Label } from "@/components/ui/input";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { cn } from "@/lib/cn";
import { describeCryptoStatus } from "@/lib/encryption";
import { describeError } from "@/lib/errors";
import { lastSeenLabel } from "@/lib/presence";
import type { ThemePreference } from "@/lib/theme";
import * as account from "@/matrix/account";
import * as session from "@/matrix/session";
import { requestOwnVerification, useVerificationStore } from "@/matrix/verification";
import { useAppStore } from "@/store/app";

// Devices for calls: a chunk of its own, loaded when the tab opens.
const DeviceSettings = lazy(() => import("@/calls/DeviceSettings"));
import { useUiStore } from "@/store/ui";
import { RecoveryKeyPanel, ResetEncryptionForm } from "./Encryption";

export function SettingsDialog() {
  const open = useUiStore((s) => s.settingsOpen);
  const setOpen = useUiStore((s) => s.setSettingsOpen);
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      {open && (
        <DialogContent title="Settings" className="max-w-2xl">
          <Tabs defaultValue="profile">
            <TabsList className="grid-cols-4 sm:grid-cols-7">
              <TabsTrigger value="profile">Profile</TabsTrigger>
              <TabsTrigger value="appearance">Theme</TabsTrigger>
              <TabsTrigger value="sessions">Sessions</TabsTrigger>
              <TabsTrigger value="security">Security</TabsTrigger>
              <TabsTrigger value="notifications">Alerts</TabsTrigger>
              <TabsTrigger value="blocked">Blocked</TabsTrigger>
              <TabsTrigger value="calls">Calls</TabsTrigger>
            </TabsList>
            <div className="mt-4 min-h-64">
              <TabsContent value="profile">
                <ProfileSection />
                <EmailSection />
              </TabsContent>
              <TabsContent value="appearance"><ThemeSection /></TabsContent>
              <TabsContent value="sessions"><SessionsSection /></TabsContent>
              <TabsContent value="security"><SecuritySection /></TabsContent>
              <TabsContent value="notifications"><NotificationsSection /></TabsContent>
              <TabsContent value="blocked"><BlockedSection /></TabsContent>
              <TabsContent value="calls">
                <Suspense fallback={<p className="text-sm text-fg-muted">Loading…</p>}>
                  <DeviceSettings />
                </Suspense>
              </TabsContent>
            </div>
          </Tabs>
        </DialogContent>
      )}
    </Dialog>
  );
}

function Status({ error, ok }: { error?: string | null; ok?: string | null }) {
  if (error) return <p role="alert" className="mt-2 text-sm text-danger">{error}</p>;
  if (ok) return <p role="status" className="mt-2 text-sm text-fg-muted">{ok}</p>;
  return null;
}

function ProfileSection() {
  const me = useAppStore((s) => s.session)!;
  const [profile, setProfile] = useState<account.Profile | null>(null);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ok, setOk] = useState<string | null>(null);
  const file = useRef<HTMLInputElement>(null);

  useEffect(() => {
    account.loadProfile().then(
      (p) => {
        setProfile(p);
        setName(p.displayName);
      },
      (e) => setError(describeError(e)),
    );
  }, []);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setOk(null);
    try {
      await account.setDisplayName(name);
      setOk("Display name saved.");
    } catch (err) {
      setError(`${describeError(err)} Try again.`);
    } finally {
      setBusy(false);
    }
  };

  const upload = async (f: File | undefined) => {
    if (!f) return;
    setBusy(true);
    setError(null);
    setOk(null);
    try {
      await account.setAvatar(f);
      setOk("Avatar updated.");
    } catch (err) {
      setError(`The avatar was not changed: ${describeError(err)}`);
    } finally {
      setBusy(false);
    }
  };

  if (!profile && !error) return <ListSkeleton rows={2} label="Loading your profile" />;
  return (
    <form onSubmit={save} className="space-y-4">
      <div className="flex items-center gap-4">
        <Avatar id={me.userId} name={name || me.userId} size={72} />
        <div className="space-y-1">
          <input ref={file} type="file" accept="image/png,image/jpeg,image/gif,image/webp" className="sr-only" tabIndex={-1}
            aria-label="Avatar image" onChange={(e) => void upload(e.target.files?.[0])} />
          <Button variant="secondary" size="sm" disabled={busy} onClick={() => file.current?.click()}>
            Change avatar
          </Button>
          <p className="text-xs text-fg-muted">{me.userId}</p>
        </div>
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="display-name">Display name</Label>
        <div className="flex gap-2">
          <Input id="display-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={256} />
          <Button type="submit" disabled={busy || name.trim() === (profile?.displayName ?? "")}>Save</Button>
        </div>
      </div>
      <Status error={error} ok={ok} />
    </form>
  );
}

function ThemeSection() {
  const theme = useAppStore((s) => s.theme);
  const setTheme = useAppStore((s) => s.setTheme);
  const choices: { value: ThemePreference; label: string }[] = [
    { value: "light", label: "Light" },
    { value: "dark", label: "Dark" },
    { value: "system", label: "Same as the system" },
  ];
  return (
    <fieldset className="space-y-2">
      <legend className="mb-2 text-sm font-medium">Theme</legend>
      {choices.map((c) => (
        <label key={c.value} className="flex items-center gap-2 text-sm">
          <input type="radio" name="theme" value={c.value} checked={theme === c.value} onChange={() => setTheme(c.value)} />
          {c.label}
        </label>
      ))}
    </fieldset>
  );
}

function SessionsSection() {
  const [devices, setDevices] = useState<account.DeviceSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    account.listDevices().then(setDevices, (e) => setError(`${describeError(e)} Reopen settings to try again.`));
  }, []);
  const verification = useVerificationStore((s) => s.stage);
  useEffect(reload, [reload, verification === "done"]);
  if (error) return <Status error={error} />;
  if (!devices) return <ListSkeleton label="Loading your sessions" />;
  return (
    <ul className="space-y-2" aria-label="Sessions">
      {devices.map((d) => (
        <DeviceRow key={d.deviceId} device={d} onChanged={reload} />
      ))}
    </ul>
  );
}

function DeviceRow({ device, onChanged }: { device: account.DeviceSummary; onChanged(): void }) {
  const [mode, setMode] = useState<"view" | "rename" | "signout">("view");
  const [value, setValue] = useState(device.displayName);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      setMode("view");
      onChanged();
    } catch (e) {
      const err = e as { httpStatus?: number };
      setError(err.httpStatus === 401 ? "Wrong password. Type your account password and try again." : describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className="rounded-lg border border-border p-3" data-device-id={device.deviceId}>
      <div className="flex flex-wrap items-center gap-2">
        <div className="min-w-0 flex-1">
          <div className="truncate font-medium">
            {device.displayName}
            {device.current && <span className="ml-2 rounded bg-muted px-1.5 py-0.5 text-xs">This session</span>}
          </div>
          <div className="text-xs text-fg-muted">
            {device.deviceId} · {lastSeenLabel(device.lastSeenTs)}
            {device.lastSeenIp ? ` from ${device.lastSeenIp}` : ""}
          </div>
          <div className={cn("text-xs", device.verified ? "text-green-700 dark:text-green-400" : "text-fg-muted")}>
            {device.verified === null ? "Verification unknown" : device.verified ? "Verified" : "Not verified"}
          </div>
        </div>
        {mode === "view" && (
          <div className="flex flex-wrap gap-2">
            <Button size="sm" variant="secondary" onClick={() => setMode("rename")} aria-label={`Rename ${device.displayName}`}>Rename</Button>
            {!device.current && (
              <Button size="sm" variant="secondary" onClick={() => setMode("signout")} aria-label={`Sign out ${device.displayName}`}>Sign out</Button>
            )}
            {device.current && !device.verified && (
              <Button size="sm" onClick={() => void requestOwnVerification(session.getClient()).catch((e) => setError(describeError(e)))}>
                Verify with another session
              </Button>
            )}
          </div>
        )}
      </div>
      {mode === "rename" && (
        <form className="mt-2 flex gap-2" onSubmit={(e) => (e.preventDefault(), void act(() => account.renameDevice(device.deviceId, value)))}>
          <Input aria-label="Session name" value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
          <Button type="submit" size="sm" disabled={busy || !value.trim()}>Save</Button>
          <Button size="sm" variant="ghost" onClick={() => setMode("view")}>Cancel</Button>
        </form>
      )}
      {mode === "signout" && (
        <form className="mt-2 flex flex-wrap gap-2" onSubmit={(e) => (e.preventDefault(), void act(() => account.signOutDevice(device.deviceId, value)))}>
          <Input type="password" aria-label="Your password" placeholder="Your password" autoComplete="current-password"
            onChange={(e) => setValue(e.target.value)} autoFocus className="flex-1" />
          <Button type="submit" size="sm" variant="danger" disabled={busy}>Sign out session</Button>
          <Button size="sm" variant="ghost" onClick={() => (setMode("view"), setValue(device.displayName))}>Cancel</Button>
        </form>
      )}
      <Status error={error} />
    </li>
  );
}

function SecuritySection() {
  const crypto = useAppStore((s) => s.crypto);
  const [key, setKey] = useState<string | null>(null);
  const [mode, setMode] = useState<"view" | "confirm" | "reset">("view");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ok, setOk] = useState<string | null>(null);
  const verified = crypto.status === "ready" || crypto.status === "needs-recovery-setup";
  const mayReset = crypto.status === "needs-recovery-key" || crypto.status === "needs-verification";
  const makeKey = async () => {
    setBusy(true);
    setError(null);
    setOk(null);
    try {
      setKey(await session.prepareRecoveryKey());
      setMode("view");
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const closeKey = (saved: boolean) => {
    if (!saved && key) session.discardRecoveryKey(key);
    setKey(null);
    setOk(saved ? "Your new recovery key is set up. The old one no longer works." : null);
  };
  return (
    <div className="space-y-3 text-sm">
      <p>
        Encryption on this device: <strong>{describeCryptoStatus(crypto.status)}</strong>
      </p>
      <p className="text-fg-muted">
        Your recovery key unlocks your encrypted history on new devices. This app does not keep it. If you lost
        it, make a new one here while this device is verified: the old key works until you save the new one.
      </p>
      {key ? (
        <div className="space-y-2">
          <p className="font-medium">Your new recovery key. Save it somewhere safe, then confirm:</p>
          <RecoveryKeyPanel recoveryKey={key} testId="new-recovery-key" onSaved={() => closeKey(true)} onCancel={() => closeKey(false)} cancelLabel="Cancel" />
        </div>
      ) : mode === "confirm" ? (
        <div className="flex flex-wrap items-center gap-2">
          <span>Replace your recovery key?</span>
          <Button size="sm" variant="danger" disabled={busy} onClick={() => void makeKey()}>{busy ? "Working…" : "Yes, make a new key"}</Button>
          <Button size="sm" variant="ghost" onClick={() => setMode("view")}>Cancel</Button>
        </div>
      ) : mode === "reset" ? (
        <ResetEncryptionForm onDone={() => (setMode("view"), useUiStore.getState().setSettingsOpen(false))} onCancel={() => setMode("view")} />
      ) : crypto.status === "needs-recovery-setup" ? (
        <Button size="sm" disabled={busy} onClick={() => void makeKey()}>Set up recovery key</Button>
      ) : verified ? (
        <Button size="sm" variant="secondary" onClick={() => setMode("confirm")}>
          Reset recovery key
        </Button>
      ) : null}
      {mayReset && mode === "view" && (
        <div className="space-y-2 border-t border-border pt-3">
          <p className="text-fg-muted">
            Lost your recovery key, and no other session of yours can verify this one? A reset makes new encryption
            keys; your old encrypted messages become unreadable.
          </p>
          <Button size="sm" variant="danger" onClick={() => setMode("reset")}>Reset encryption</Button>
        </div>
      )}
      <Status error={error} ok={ok} />
    </div>
  );
}

function NotificationsSection() {
  const supported = typeof Notification !== "undefined";
  const [wanted, setWanted] = useState(account.notificationsWanted());
  const [permission, setPermission] = useState<string>(supported ? Notification.permission : "unsupported");
  if (!supported) return <p className="text-sm">This browser cannot show desktop notifications.</p>;
  return (
    <div className="space-y-3 text-sm">
      <label className="flex items-center gap-2">
        <input
          type="checkbox"
          checked={wanted && permission === "granted"}
          onChange={async (e) => {
            const result = await account.enableNotifications(e.target.checked);
            setPermission(result);
            setWanted(account.notificationsWanted());
          }}
        />
        Desktop notifications for new messages while this tab is in the background
      </label>
      {permission === "denied" && (
        <p role="alert" className="text-danger">
          The browser blocks notifications for this site. Allow them in the site settings (the icon left of the address), then try again.
        </p>
      )}
    </div>
  );
}

function EmailSection() {
  const [emails, setEmails] = useState<string[] | null>(null);
  const [address, setAddress] = useState("");
  const [pending, setPending] = useState<{ address: string; sid: string; clientSecret: string } | null>(null);
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(() => {
    account.listEmails().then(setEmails, (e) => setError(describeError(e)));
  }, []);
  useEffect(refresh, [refresh]);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const send = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const target = address.trim();
      setPending({ address: target, ...(await account.requestEmail(target)) });
      setAddress("");
    });
  };

  const confirm = (e: FormEvent) => {
    e.preventDefault();
    if (!pending) return;
    void run(async () => {
      await account.confirmEmail(pending, password);
      setPending(null);
      setPassword("");
      refresh();
    });
  };

  return (
    <section aria-label="E-mail addresses" className="mt-6 space-y-3 border-t border-border pt-4">
      <h3 className="text-sm font-semibold">E-mail addresses</h3>
      {emails === null ? (
        <p className="text-sm text-fg-muted">Loading…</p>
      ) : emails.length === 0 ? (
        <p className="text-sm text-fg-muted">No e-mail address. Add one to be able to reset a forgotten password.</p>
      ) : (
        <ul aria-label="Your e-mail addresses" className="space-y-2">
          {emails.map((email) => (
            <li key={email} className="flex items-center gap-3">
              <span className="min-w-0 flex-1 truncate text-sm">{email}</span>
              <Button size="sm" variant="secondary" disabled={busy} onClick={() => void run(async () => {
                await account.removeEmail(email);
                refresh();
              })}>
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
      {pending ? (
        <form onSubmit={confirm} className="space-y-2" aria-label="Confirm e-mail address">
          <p role="status" className="text-sm">
            We sent a link to {pending.address}. Open it, then confirm with your password.
          </p>
          <Label htmlFor="email-password">Password</Label>
          <Input id="email-password" type="password" autoComplete="current-password" required value={password}
            onChange={(e) => setPassword(e.target.value)} />
          <div className="flex gap-2">
            <Button type="submit" size="sm" disabled={busy}>Confirm</Button>
            <Button type="button" size="sm" variant="secondary" onClick={() => setPending(null)}>Cancel</Button>
          </div>
        </form>
      ) : (
        <form onSubmit={send} className="flex items-end gap-2" aria-label="New e-mail address">
          <div className="min-w-0 flex-1 space-y-1">
            <Label htmlFor="email-new">Add an e-mail address</Label>
            <Input id="email-new" type="email" autoComplete="email" required value={address}
              onChange={(e) => setAddress(e.target.value)} />
          </div>
          <Button type="submit" size="sm" disabled={busy}>Send link</Button>
        </form>
      )}
      <Status error={error} />
    </section>
  );
}

function BlockedSection() {
  const ignored = useUiStore((s) => s.ignoredUsers);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    useUiStore.getState().setIgnoredUsers(session.getClient().getIgnoredUsers());
  }, []);
  if (ignored.length === 0) {
    return <p className="py-6 text-center text-sm text-fg-muted">You have not blocked anyone. Block people from a conversation's member list.</p>;
  }
  return (
    <>
      <ul aria-label="Blocked people" className="space-y-2">
        {ignored.map((userId) => (
          <li key={userId} className="flex items-center gap-3">
            <Avatar id={userId} name={userId} size={32} />
            <span className="min-w-0 flex-1 truncate text-sm">{userId}</span>
            <Button size="sm" variant="secondary" onClick={() => account.unignoreUser(userId).catch((e) => setError(describeError(e)))}>
              Unblock
            </Button>
          </li>
        ))}
      </ul>
      <Status error={error} />
    </>
  );
}
