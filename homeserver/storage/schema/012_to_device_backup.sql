-- To-device messages, server-side key backups and dehydrated devices.

-- Messages waiting for their device: one row per recipient device, kept until the device's
-- next /sync acknowledges them (its since token's to-device position >= stream_id).
CREATE TABLE device_inbox (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, stream_id)
);

-- The highest to-device stream position handed out. Delivered rows are deleted, so the inbox's
-- own MAX(stream_id) can go down; positions in clients' sync tokens must never be reused.
CREATE TABLE device_inbox_stream (
    position BIGINT NOT NULL
);
INSERT INTO device_inbox_stream (position) VALUES (0);

-- Transaction IDs of /sendToDevice requests already carried out, per sending device.
CREATE TABLE device_inbox_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX device_inbox_txns_ts ON device_inbox_txns(ts);

-- Key backup versions. A deleted version stays as a tombstone, so deleting it again succeeds
-- and its number is never handed out again.
CREATE TABLE room_key_backup_versions (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    -- Bumped whenever the version's keys change (the spec's opaque `etag`).
    etag BIGINT NOT NULL DEFAULT 0,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE room_key_backup_keys (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count BIGINT NOT NULL,
    is_verified BOOLEAN NOT NULL,
    session_data TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

-- MSC3814: each user's one dehydrated device (its row in `devices` holds its name).
CREATE TABLE dehydrated_devices (
    user_id TEXT NOT NULL PRIMARY KEY,
    device_id TEXT NOT NULL,
    device_data TEXT NOT NULL
);
