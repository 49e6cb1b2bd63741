import { useEffect, useState, type FormEvent } from "react";
import { Button } from "@/components/ui/button";
import { Input, Label } from "@/components/ui/input";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { ThemeToggle } from "@/components/ThemeToggle";
import { needsToken } from "@/lib/auth";
import { describeError } from "@/lib/errors";
import { loadSessionModule } from "@/lib/load-session";

const defaultServer = () => window.location.origin;

export function LoginScreen() {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [server, setServer] = useState(defaultServer);
  const [tokenNeeded, setTokenNeeded] = useState(false);

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
      .then((flows) => !cancelled && setTokenNeeded(flows !== null && needsToken(flows)))
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
            <AuthForm mode="login" server={server} />
          </TabsContent>
          <TabsContent value="register" className="mt-5">
            <AuthForm mode="register" server={server} tokenNeeded={tokenNeeded} />
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

function AuthForm({ mode, server, tokenNeeded }: { mode: "login" | "register"; server: string; tokenNeeded?: boolean }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [token, setToken] = useState("");
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
      else await session.register(base, user, password, token.trim() || undefined);
    } catch (err) {
      setError(describeError(err));
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
