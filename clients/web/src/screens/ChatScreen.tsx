import { useEffect } from "react";
import { Splash } from "@/App";
import { cn } from "@/lib/cn";
import { useAppStore } from "@/store/app";
import { RoomList } from "./RoomList";
import { Conversation } from "./Conversation";
import { EncryptionBanner, RecoveryKeyDialog } from "./Encryption";
import { ConnectionBanner, FeatureDialogs } from "./FeatureLayer";

/** Two panes on desktop; on a phone the list, or the open conversation with a back button. */
export default function ChatScreen() {
  const status = useAppStore((s) => s.status);
  const selectedRoomId = useAppStore((s) => s.selectedRoomId);
  const cryptoStatus = useAppStore((s) => s.crypto.status);

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
            "w-full min-w-0 flex-col border-r border-border bg-panel md:flex md:w-80 lg:w-96",
            selectedRoomId ? "hidden" : "flex",
          )}
        >
          <RoomList />
        </aside>
        <main className={cn("min-w-0 flex-1 flex-col", selectedRoomId ? "flex" : "hidden md:flex")}>
          {selectedRoomId ? (
            <Conversation key={selectedRoomId} roomId={selectedRoomId} />
          ) : (
            <div className="flex flex-1 items-center justify-center p-6 text-center text-fg-muted">
              Choose a conversation, or start a new one.
            </div>
          )}
        </main>
      </div>
      <RecoveryKeyDialog />
      <FeatureDialogs />
    </div>
  );
}
