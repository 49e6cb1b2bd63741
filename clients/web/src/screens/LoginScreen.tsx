import { useEffect, useState, type FormEvent } from "react";
import { Button } from "@/components/ui/button";
import { Input, Label } from "@/components/ui/input";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { ThemeToggle } from "@/components/ThemeToggle";
import { emailNeed, needsToken } from "@/lib/auth";
import { describeError } from "@/lib/errors";
import { loadSessionModule } from "@/lib/load-session";

const defaultServer = () => window.location.origin;

export function LoginScreen() {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [server, setServer] = useState(defaultServer);
  const [tokenNeeded, setTokenNeeded] = useState(false);
  const [emailWanted, setEmailWanted] = useState<"required" | "optional" | "no">("no");
  const [forgot, setForgot] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    // The form is on screen with its handlers attached: the page is usable from here (measured by e2e).
    performance.mark("login-ready");
    // Warm the session chunk while the user types, so submitting does not wait for the download.
    const idle = window.requestIdleCallback ?? ((cb: () => void) => setTimeout(cb, 1000));
    idle(() => void loadSessionModule());
  }, []);

  useEffect(() => {
    if (mode !== "register") return;
    let cancelled = false;
    loadSessionModule()
      .then((m) => m.registrationFlows(server))
      .then((flows) => {
        if (cancelled) return;
        setTokenNeeded(flows !== null && needsToken(flows));
        setEmailWanted(flows !== null ? emailNeed(flows) : "no");
      })
      .catch(() => !cancelled && setTokenNeeded(false));
    return () => {
      cancelled = true;
    };
  }, [mode, server]);

  return (
    <main className="flex min-h-full items-center justify-center bg-panel p-4">
      <div className="absolute right-3 top-3">
        <ThemeToggle />
      </div>
      <div className="w-full max-w-sm rounded-2xl border border-border bg-bg p-6 shadow-sm">
        <h1 className="mb-1 text-2xl font-semibold">Welcome</h1>
        <p className="mb-5 text-sm text-fg-muted">Private, end-to-end encrypted messaging.</p>
        <Tabs value={mode} onValueChange={(v) => setMode(v as "login" | "register")}>
          <TabsList aria-label="Log in or create an account">
            <TabsTrigger value="login">Log in</TabsTrigger>
            <TabsTrigger value="register">Create account</TabsTrigger>
          </TabsList>
          <TabsContent value="login" className="mt-5">
            {notice && (
              <p role="status" className="mb-3 text-sm text-fg-muted">
                {notice}
              </p>
            )}
            {forgot ? (
              <ForgotPasswordForm
                server={server}
                onDone={(message) => {
                  setForgot(false);
                  setNotice(message);
                }}
                onCancel={() => setForgot(false)}
              />
            ) : (
              <>
                <AuthForm mode="login" server={server} />
                <button
                  type="button"
                  className="mt-3 text-sm text-fg-muted underline"
                  onClick={() => {
                    setNotice(null);
                    setForgot(true);
                  }}
                >
                  Forgot password?
                </button>
              </>
            )}
          </TabsContent>
          <TabsContent value="register" className="mt-5">
            <AuthForm mode="register" server={server} tokenNeeded={tokenNeeded} emailWanted={emailWanted} />
          </TabsContent>
        </Tabs>
        <details className="mt-5 text-sm">
          <summary className="cursor-pointer text-fg-muted">Server</summary>
          <div className="mt-2 space-y-1">
            <Label htmlFor="server">Homeserver URL</Label>
            <Input id="server" value={server} onChange={(e) => setServer(e.target.value)} inputMode="url" />
          </div>
        </details>
      </div>
    </main>
  );
}

function AuthForm({
  mode,
  server,
  tokenNeeded,
  emailWanted = "no",
}: {
  mode: "login" | "register";
  server: string;
  tokenNeeded?: boolean;
  emailWanted?: "required" | "optional" | "no";
}) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [token, setToken] = useState("");
  const [email, setEmail] = useState("");
  const [inbox, setInbox] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = (name: string) => `${mode}-${name}`;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (mode === "register" && password !== confirm) {
      setError("The passwords do not match.");
      return;
    }
    setBusy(true);
    try {
      const session = await loadSessionModule();
      const base = server.replace(/\/+$/, "");
      const user = username.trim().replace(/^@/, "");
      if (mode === "login") await session.login(base, user, password);
      else {
        const address = emailWanted !== "no" ? email.trim() || undefined : undefined;
        await session.register(base, user, password, token.trim() || undefined, address, () => setInbox(address ?? ""));
      }
    } catch (err) {
      setError(describeError(err));
      setInbox(null);
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" aria-label={mode === "login" ? "Log in" : "Create account"}>
      <div className="space-y-1">
        <Label htmlFor={id("username")}>User name</Label>
        <Input
          id={id("username")}
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          required
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
      </div>
      <div className="space-y-1">
        <Label htmlFor={id("password")}>Password</Label>
        <Input
          id={id("password")}
          name="password"
          type="password"
          autoComplete={mode === "login" ? "current-password" : "new-password"}
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      {mode === "register" && (
        <div className="space-y-1">
          <Label htmlFor={id("confirm")}>Confirm password</Label>
          <Input
            id={id("confirm")}
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
          />
        </div>
      )}
      {mode === "register" && emailWanted !== "no" && (
        <div className="space-y-1">
          <Label htmlFor={id("email")}>{emailWanted === "required" ? "E-mail address" : "E-mail address (optional)"}</Label>
          <Input
            id={id("email")}
            type="email"
            autoComplete="email"
            required={emailWanted === "required"}
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
      )}
      {inbox !== null && <CheckInbox address={inbox} />}
      {mode === "register" && tokenNeeded && (
        <div className="space-y-1">
          <Label htmlFor={id("token")}>Registration token</Label>
          <Input id={id("token")} required value={token} onChange={(e) => setToken(e.target.value)} />
        </div>
      )}
      {error && (
        <p role="alert" className="text-sm text-danger">
          {error}
        </p>
      )}
      <Button type="submit" className="w-full" disabled={busy}>
        {busy ? "Please wait…" : mode === "login" ? "Log in" : "Create account"}
      </Button>
    </form>
  );
}

function CheckInbox({ address }: { address: string }) {
  return (
    <p role="status" className="rounded-md border border-border bg-panel p-3 text-sm">
      <strong>Check your inbox.</strong> We sent a link to {address}. Open it, and this page will continue by
      itself.
    </p>
  );
}

function ForgotPasswordForm({
  server,
  onDone,
  onCancel,
}: {
  server: string;
  onDone: (message: string) => void;
  onCancel: () => void;
}) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [inbox, setInbox] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (password !== confirm) {
      setError("The passwords do not match.");
      return;
    }
    setBusy(true);
    try {
      const session = await loadSessionModule();
      const address = email.trim();
      await session.resetPassword(server.replace(/\/+$/, ""), address, password, () => setInbox(address));
      onDone("Your password has been changed. Log in with the new one.");
    } catch (err) {
      setError(describeError(err));
      setInbox(null);
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Reset password">
      <p className="text-sm text-fg-muted">We will mail a link to the address of your account.</p>
      <div className="space-y-1">
        <Label htmlFor="reset-email">E-mail address</Label>
        <Input id="reset-email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </div>
      <div className="space-y-1">
        <Label htmlFor="reset-password">New password</Label>
        <Input
          id="reset-password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      <div className="space-y-1">
        <Label htmlFor="reset-confirm">Confirm new password</Label>
        <Input
          id="reset-confirm"
          type="password"
          autoComplete="new-password"
          required
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
        />
      </div>
      {inbox !== null && <CheckInbox address={inbox} />}
      {error && (
        <p role="alert" className="text-sm text-danger">
          {error}
        </p>
      )}
      <Button type="submit" className="w-full" disabled={busy}>
        {busy ? "Please wait…" : "Reset password"}
      </Button>
      <button type="button" className="text-sm text-fg-muted underline" onClick={onCancel}>
        Back to log in
      </button>
    </form>
  );
}
