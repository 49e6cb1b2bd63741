-- Room aliases hosted by this server, and the published room directory.

-- A local alias (#localpart:our.server) and the room it points to; `creator` may delete it.
CREATE TABLE room_aliases (
    room_alias TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases(room_id);

-- A room's visibility in the published room directory ('public' or 'private'); no row is private.
CREATE TABLE room_directory (
    room_id TEXT NOT NULL PRIMARY KEY,
    visibility TEXT NOT NULL
);
CREATE INDEX room_directory_visibility ON room_directory(visibility);
