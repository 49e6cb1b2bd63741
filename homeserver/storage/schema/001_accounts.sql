-- Accounts, devices, tokens and user-interactive auth sessions.

CREATE TABLE users (
    user_id TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT,
    created_ts BIGINT NOT NULL,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    user_type TEXT,
    deactivated BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE profiles (
    user_id TEXT NOT NULL PRIMARY KEY REFERENCES users(user_id),
    displayname TEXT,
    avatar_url TEXT
);

CREATE TABLE devices (
    user_id TEXT NOT NULL REFERENCES users(user_id),
    device_id TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    last_seen_user_agent TEXT,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE refresh_tokens (
    id BIGINT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    expiry_ts BIGINT,
    -- Set once this token was used: the token that replaced it. The old one stays valid
    -- until the new access or refresh token is first used (spec: refreshing access tokens).
    next_token_id BIGINT REFERENCES refresh_tokens(id) ON DELETE SET NULL
);
CREATE INDEX refresh_tokens_device ON refresh_tokens(user_id, device_id);

CREATE TABLE access_tokens (
    id BIGINT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    valid_until_ms BIGINT,
    refresh_token_id BIGINT REFERENCES refresh_tokens(id) ON DELETE CASCADE,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts BIGINT NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens(user_id, device_id);

CREATE TABLE login_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    expiry_ts BIGINT NOT NULL
);

CREATE TABLE registration_tokens (
    token TEXT NOT NULL PRIMARY KEY,
    uses_allowed INTEGER,
    pending INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    expiry_time BIGINT
);

CREATE TABLE ui_auth_sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    creation_time BIGINT NOT NULL,
    method TEXT NOT NULL,
    uri TEXT NOT NULL,
    -- JSON: the first request's body, for registration (which must not change during the session).
    clientdict TEXT NOT NULL,
    -- The user the session was started for (null for registration).
    user_id TEXT,
    -- JSON: the flows the operation asked for (the fallback pages check stages against them).
    flows TEXT NOT NULL
);

CREATE TABLE ui_auth_sessions_credentials (
    session_id TEXT NOT NULL REFERENCES ui_auth_sessions(session_id) ON DELETE CASCADE,
    stage_type TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (session_id, stage_type)
);

CREATE TABLE ui_auth_sessions_data (
    session_id TEXT NOT NULL REFERENCES ui_auth_sessions(session_id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (session_id, key)
);
