import { lazy, Suspense, useEffect } from "react";
import { finishPendingDeletions } from "@/lib/crypto-store";
import { loadSessionModule } from "@/lib/load-session";
import { loadSession } from "@/lib/session";
import { applyTheme } from "@/lib/theme";
import { LoginScreen } from "@/screens/LoginScreen";
import { useAppStore } from "@/store/app";

const ChatScreen = lazy(() => import("@/screens/ChatScreen"));

export function App() {
  const status = useAppStore((s) => s.status);
  const theme = useAppStore((s) => s.theme);

  useEffect(() => {
    applyTheme(theme);
    if (theme !== "system") return;
    const query = window.matchMedia("(prefers-color-scheme: dark)");
    const follow = () => applyTheme("system");
    query.addEventListener("change", follow);
    return () => query.removeEventListener("change", follow);
  }, [theme]);

  useEffect(() => {
    // Crypto stores of ended sessions that their page could not delete (see forgetSession).
    if (typeof indexedDB !== "undefined") void finishPendingDeletions(localStorage, indexedDB);
    if (!loadSession(localStorage)) {
      useAppStore.getState().setStatus("logged-out");
      return;
    }
    loadSessionModule()
      .then((m) => m.restore())
      .catch((error) => {
        console.error("Could not resume the session", error);
        useAppStore.getState().setStatus("logged-out");
      });
  }, []);

  if (status === "booting") return <Splash text="Loading…" />;
  if (status === "logged-out") return <LoginScreen />;
  return (
    <Suspense fallback={<Splash text="Loading…" />}>
      <ChatScreen />
    </Suspense>
  );
}

export function Splash({ text }: { text: string }) {
  return (
    <div className="flex h-full items-center justify-center text-fg-muted" role="status">
      {text}
    </div>
  );
}
