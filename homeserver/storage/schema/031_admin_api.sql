-- The admin API (docs/admin_api.md): account flags an operator sets, blocked rooms, room
-- deletions run in the background, and media quarantine.

-- locked: every request with the user's tokens is refused (401 M_USER_LOCKED) and they cannot
-- log in. suspended: the user may read and leave, not send, join or invite (403 M_USER_SUSPENDED).
-- shadow_banned: their events are answered with made-up event IDs and never sent.
ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN shadow_banned BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX users_created ON users(created_ts);

-- Rooms no local user may join (PUT /rooms/{roomId}/block, or a deletion with `block`); the
-- room need not be known here.
CREATE TABLE blocked_rooms (
    room_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    blocked_ts BIGINT NOT NULL
);

-- DELETE /_synapse/admin/v2/rooms/{roomId}: one row per request, its progress and result (JSON).
-- status: scheduled, active, complete, failed. A job found active at start-up was cut short by
-- a restart and is marked failed.
CREATE TABLE room_deletions (
    delete_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    requester TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    result TEXT,
    created_ts BIGINT NOT NULL,
    finished_ts BIGINT
);
CREATE INDEX room_deletions_room ON room_deletions(room_id, created_ts);

-- Quarantined media are served to nobody (404) but kept; safe_from_quarantine protects an item
-- from every quarantine request.
ALTER TABLE local_media ADD COLUMN quarantined_by TEXT;
ALTER TABLE local_media ADD COLUMN safe_from_quarantine BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE remote_media ADD COLUMN quarantined_by TEXT;
