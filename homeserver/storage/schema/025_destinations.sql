-- Other servers this server has sent federation requests to, and how reaching them goes
-- (federation/backoff.py writes through to it; the admin API's /federation/destinations reads
-- it). Synapse's column names, so its admin tools read the same shapes.

CREATE TABLE destinations (
    destination TEXT NOT NULL PRIMARY KEY,
    -- When the current run of failures began (ms); NULL while it answers.
    failure_ts BIGINT,
    -- The last failed attempt (ms); 0 when the last attempt succeeded.
    retry_last_ts BIGINT NOT NULL DEFAULT 0,
    -- How long after retry_last_ts it is tried again (ms); 0 when not backing off.
    retry_interval BIGINT NOT NULL DEFAULT 0,
    -- Failures in the current run (the backoff doubles with each).
    failures INTEGER NOT NULL DEFAULT 0,
    -- The stream ordering of the latest of our events the destination acknowledged (the sender).
    last_successful_stream_ordering BIGINT
);

-- Per room, the stream ordering of the latest event of ours queued for the destination (the sender).
CREATE TABLE destination_rooms (
    destination TEXT NOT NULL,
    room_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (destination, room_id)
);
