-- Media of other servers, fetched over federation and cached here (handlers/media/remote.py).
-- Files are content-addressed like local media: sha256 names the file under media_store_path
-- (content/ab/cd/<sha256>), shared with any local media or thumbnail of the same bytes.
-- authenticated = 1: fetched while the unauthenticated endpoints were frozen (never served there).
CREATE TABLE remote_media (
    origin TEXT NOT NULL,
    media_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    upload_name TEXT,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    authenticated SMALLINT NOT NULL DEFAULT 1,
    last_access_ts BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id)
);
CREATE INDEX remote_media_sha256 ON remote_media(sha256);
CREATE INDEX remote_media_last_access ON remote_media(last_access_ts);

-- Thumbnails made here of cached remote media.
CREATE TABLE remote_media_thumbnails (
    origin TEXT NOT NULL,
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated SMALLINT NOT NULL,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id, width, height, method, animated)
);
CREATE INDEX remote_media_thumbnails_sha256 ON remote_media_thumbnails(sha256);
