-- Guest accounts (client-server API "Guest access"; allow_guest_access): registered with
-- kind=guest, restricted to the endpoints guests may call, until upgraded to a full account.
ALTER TABLE users ADD COLUMN is_guest BOOLEAN NOT NULL DEFAULT FALSE;
