import { lazy, Suspense, useEffect, useState } from "react";
import { Splash } from "@/App";
import { cn } from "@/lib/cn";
import { useAppStore } from "@/store/app";
import { useCallStore } from "@/store/call";
import { useUiStore } from "@/store/ui";
import { RoomList } from "./RoomList";
import { Conversation } from "./Conversation";
import { EncryptionBanner, RecoveryKeyDialog } from "./Encryption";
import { ConnectionBanner, FeatureDialogs } from "./FeatureLayer";
import { PhoneNav, type PhoneView } from "./PhoneNav";
import { SidePanel } from "./SidePanel";

// The call screens are a chunk of their own, loaded once a call exists.
const CallLayer = lazy(() => import("@/calls/CallLayer"));

function Calls() {
  const active = useCallStore((s) => s.call !== null || s.group !== null || s.groupPrompt !== null);
  if (!active) return null;
  return (
    <Suspense fallback={null}>
      <CallLayer />
    </Suspense>
  );
}

/**
 * Two panes on desktop; on a phone the list (with a bottom navigation), or the open conversation with
 * a back button.
 */
export default function ChatScreen() {
  const status = useAppStore((s) => s.status);
  const selectedRoomId = useAppStore((s) => s.selectedRoomId);
  const cryptoStatus = useAppStore((s) => s.crypto.status);
  // The side panel (members...) sits beside the conversation; on a phone it replaces it.
  const panelOpen = useUiStore((s) => s.rightPanel !== null) && selectedRoomId !== null;
  const [phoneView, setPhoneView] = useState<PhoneView>("chats");

  useEffect(() => {
    // The browser's back button closes the conversation on a phone.
    const onPop = () => useAppStore.getState().selectRoom(null);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  if (status !== "ready") return <Splash text="Connecting…" />;

  return (
    <div className="flex h-full flex-col" data-crypto-status={cryptoStatus}>
      <ConnectionBanner />
      <EncryptionBanner />
      <div className="flex min-h-0 flex-1">
        <aside
          className={cn(
            "w-full min-w-0 flex-col border-border bg-panel md:flex md:border-r md:w-80 lg:w-96",
            selectedRoomId ? "hidden" : "flex",
          )}
        >
          <RoomList phoneView={phoneView} />
          <PhoneNav view={phoneView} onView={setPhoneView} />
        </aside>
        <main className={cn("min-w-0 flex-1 flex-col", selectedRoomId && !panelOpen ? "flex" : "hidden md:flex")}>
          {selectedRoomId ? (
            <Conversation key={selectedRoomId} roomId={selectedRoomId} />
          ) : (
            <div className="flex flex-1 items-center justify-center p-6 text-center text-fg-muted">
              Choose a conversation, or start a new one.
            </div>
          )}
        </main>
        {panelOpen && <SidePanel roomId={selectedRoomId!} />}
      </div>
      <RecoveryKeyDialog />
      <FeatureDialogs />
      <Calls />
    </div>
  );
}
