-- Device lists of other servers' users who share a room with one of ours
-- (handlers/remote_device_lists.py): what GET /user/devices/{userId} answered, kept up to date by
-- m.device_list_update and m.signing_key_update EDUs. stale = 1: an update was missed (a gap in
-- its prev_id chain); the list is fetched again before it is used.
CREATE TABLE remote_device_lists (
    user_id TEXT NOT NULL PRIMARY KEY,
    stream_id TEXT NOT NULL,
    -- JSON: {"devices": {device_id: {"keys": ..., "device_display_name": ...}},
    --        "master_key": ..., "self_signing_key": ..., "seen": [recent stream IDs applied]}
    device_list TEXT NOT NULL,
    stale SMALLINT NOT NULL DEFAULT 0,
    updated_ts BIGINT NOT NULL
);
