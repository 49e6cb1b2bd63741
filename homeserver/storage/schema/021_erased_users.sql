-- Users who deactivated their account with `erase: true` (client-server API, account deactivation):
-- users who join a room after `stream_ordering` (the events stream position at the erasure) are
-- served redacted copies of their events.
CREATE TABLE erased_users (
    user_id TEXT NOT NULL PRIMARY KEY,
    stream_ordering BIGINT NOT NULL,
    erased_ts BIGINT NOT NULL
);
