/** Everything the files / settings / members / search features draw above the chat (dialogs, toasts). */
import { ConnectionBanner, SessionExpiredDialog, Toaster } from "./Feedback";
import { RoomSettingsDialog } from "./RoomSettings";
import { SearchDialog } from "./Search";
import { SettingsDialog } from "./Settings";
import { VerificationDialog } from "./Verification";

export function FeatureDialogs() {
  return (
    <>
      <SettingsDialog />
      <RoomSettingsDialog />
      <SearchDialog />
      <VerificationDialog />
      <SessionExpiredDialog />
      <Toaster />
    </>
  );
}

export { ConnectionBanner };
