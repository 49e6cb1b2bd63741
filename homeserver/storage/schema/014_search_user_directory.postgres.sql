-- Message search and the user directory (PostgreSQL twin: tsvector with a GIN index).

-- One row per searchable event (m.room.message body, m.room.name, m.room.topic).
CREATE TABLE event_search (
    stream_ordering BIGINT NOT NULL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    -- content.body, content.name or content.topic
    key TEXT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    -- to_tsvector('english', text): stemmed words without stop words.
    vector TSVECTOR NOT NULL
);
CREATE INDEX event_search_room ON event_search(room_id, stream_ordering);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);

-- Events already in the database when this migration runs (redacted ones excluded).
INSERT INTO event_search (stream_ordering, event_id, room_id, sender, key, origin_server_ts, vector)
SELECT e.stream_ordering, e.event_id, e.room_id, e.sender,
       CASE e.type WHEN 'm.room.message' THEN 'content.body' WHEN 'm.room.name' THEN 'content.name'
            ELSE 'content.topic' END,
       e.origin_server_ts,
       to_tsvector('english', COALESCE(e.json::jsonb -> 'content' ->> 'body', e.json::jsonb -> 'content' ->> 'name',
                                       e.json::jsonb -> 'content' ->> 'topic'))
FROM events e
WHERE e.rejection_reason IS NULL
  AND ((e.type = 'm.room.message' AND jsonb_typeof(e.json::jsonb -> 'content' -> 'body') = 'string')
    OR (e.type = 'm.room.name' AND jsonb_typeof(e.json::jsonb -> 'content' -> 'name') = 'string')
    OR (e.type = 'm.room.topic' AND jsonb_typeof(e.json::jsonb -> 'content' -> 'topic') = 'string'))
  AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id);

-- The user directory: local users (deactivated ones are removed), with their global profile.
-- search_name / search_localpart: case-folded, for exact and prefix ranking.
CREATE TABLE user_directory (
    user_id TEXT NOT NULL PRIMARY KEY,
    display_name TEXT,
    avatar_url TEXT,
    search_name TEXT,
    search_localpart TEXT NOT NULL
);

-- Words of each user's ID and display name (case-folded), for prefix-of-word matching with a
-- range scan (byte order, whatever the database's collation); the full user ID is a term too.
CREATE TABLE user_directory_terms (
    term TEXT COLLATE "C" NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (term, user_id)
);
CREATE INDEX user_directory_terms_user ON user_directory_terms(user_id);

-- Rooms whose members anyone may find: public join rule or world-readable history.
CREATE TABLE user_directory_rooms (
    room_id TEXT NOT NULL PRIMARY KEY,
    public_join BOOLEAN NOT NULL DEFAULT FALSE,
    world_readable BOOLEAN NOT NULL DEFAULT FALSE
);

INSERT INTO user_directory_rooms (room_id, public_join, world_readable)
SELECT r.room_id,
       EXISTS (SELECT 1 FROM current_state_events c JOIN events e ON e.event_id = c.event_id
               WHERE c.room_id = r.room_id AND c.type = 'm.room.join_rules' AND c.state_key = ''
                 AND e.json::jsonb -> 'content' ->> 'join_rule' = 'public'),
       EXISTS (SELECT 1 FROM current_state_events c JOIN events e ON e.event_id = c.event_id
               WHERE c.room_id = r.room_id AND c.type = 'm.room.history_visibility' AND c.state_key = ''
                 AND e.json::jsonb -> 'content' ->> 'history_visibility' = 'world_readable')
FROM rooms r;

-- Users already registered are added (with their words) at start-up while this row exists.
CREATE TABLE user_directory_rebuild (pending BOOLEAN NOT NULL);
INSERT INTO user_directory_rebuild (pending) VALUES (TRUE)
