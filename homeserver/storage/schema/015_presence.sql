-- Presence (online / unavailable / offline and a status message) of local users, so that it
-- survives a restart. Written behind the in-memory state (coalesced, not on every sync).
-- stream_id: the presence stream position of the user's last change; its maximum restores
-- the stream's position at start, so sync tokens issued before a restart stay meaningful.
CREATE TABLE presence_state (
    user_id TEXT NOT NULL PRIMARY KEY,
    presence TEXT NOT NULL,
    status_msg TEXT,
    last_active_ts BIGINT NOT NULL,
    currently_active BOOLEAN NOT NULL,
    set_explicitly BOOLEAN NOT NULL,
    stream_id BIGINT NOT NULL
);
