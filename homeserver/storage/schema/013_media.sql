-- The media repository. Files live on disk under media_store_path, named by their SHA-256, so one
-- file serves every media ID (and thumbnail) with the same bytes; these tables map IDs to files.

-- One row per local mxc://<server>/<media_id>. sha256 is NULL while an async upload
-- (POST /media/v1/create) waits for its content; unused_expires_ts is when that wait ends.
-- authenticated = 1: uploaded while the unauthenticated endpoints were frozen (never served there).
CREATE TABLE local_media (
    media_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    unused_expires_ts BIGINT,
    sha256 TEXT,
    content_type TEXT,
    upload_name TEXT,
    size BIGINT NOT NULL DEFAULT 0,
    authenticated SMALLINT NOT NULL DEFAULT 1,
    last_access_ts BIGINT NOT NULL
);
CREATE INDEX local_media_user ON local_media(user_id);
CREATE INDEX local_media_sha256 ON local_media(sha256);
CREATE INDEX local_media_last_access ON local_media(last_access_ts);

-- Thumbnails of local media, stored content-addressed like the media itself.
CREATE TABLE local_media_thumbnails (
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated SMALLINT NOT NULL,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (media_id, width, height, method, animated)
);
CREATE INDEX local_media_thumbnails_sha256 ON local_media_thumbnails(sha256);

-- URL previews, cached until expires_ts.
CREATE TABLE url_previews (
    url TEXT NOT NULL PRIMARY KEY,
    fetched_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL,
    og_json TEXT NOT NULL
);
