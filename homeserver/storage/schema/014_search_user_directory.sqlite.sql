-- Message search and the user directory (SQLite twin: FTS5).

-- One row per searchable event (m.room.message body, m.room.name, m.room.topic); the row ID is
-- the event's stream position, which is also the FTS5 row ID of its text.
CREATE TABLE event_search (
    stream_ordering INTEGER NOT NULL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    -- content.body, content.name or content.topic
    key TEXT NOT NULL,
    origin_server_ts BIGINT NOT NULL
);
CREATE INDEX event_search_room ON event_search(room_id, stream_ordering);

-- The text itself. porter: English stemming (as PostgreSQL's 'english' configuration);
-- prefix: indexes 3-character prefixes so prefix queries ("mart*") stay fast.
CREATE VIRTUAL TABLE event_search_fts USING fts5(value, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '3');

-- Events already in the database when this migration runs (redacted ones excluded).
INSERT INTO event_search (stream_ordering, event_id, room_id, sender, key, origin_server_ts)
SELECT e.stream_ordering, e.event_id, e.room_id, e.sender,
       CASE e.type WHEN 'm.room.message' THEN 'content.body' WHEN 'm.room.name' THEN 'content.name'
            ELSE 'content.topic' END,
       e.origin_server_ts
FROM events e
WHERE e.rejection_reason IS NULL
  AND ((e.type = 'm.room.message' AND json_type(e.json, '$.content.body') = 'text')
    OR (e.type = 'm.room.name' AND json_type(e.json, '$.content.name') = 'text')
    OR (e.type = 'm.room.topic' AND json_type(e.json, '$.content.topic') = 'text'))
  AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id);

INSERT INTO event_search_fts (rowid, value)
SELECT s.stream_ordering,
       COALESCE(json_extract(e.json, '$.content.body'), json_extract(e.json, '$.content.name'),
                json_extract(e.json, '$.content.topic'))
FROM event_search s JOIN events e ON e.event_id = s.event_id;

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
-- range scan; the full user ID is a term too (it starts with '@', no word does).
CREATE TABLE user_directory_terms (
    term TEXT NOT NULL,
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
                 AND json_extract(e.json, '$.content.join_rule') = 'public'),
       EXISTS (SELECT 1 FROM current_state_events c JOIN events e ON e.event_id = c.event_id
               WHERE c.room_id = r.room_id AND c.type = 'm.room.history_visibility' AND c.state_key = ''
                 AND json_extract(e.json, '$.content.history_visibility') = 'world_readable')
FROM rooms r;

-- Users already registered are added (with their words) at start-up while this row exists.
CREATE TABLE user_directory_rebuild (pending BOOLEAN NOT NULL);
INSERT INTO user_directory_rebuild (pending) VALUES (TRUE)
