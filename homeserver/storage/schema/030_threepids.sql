-- Third-party identifiers (e-mail addresses) bound to accounts, and the validation sessions that
-- prove them (spec: /requestToken). Addresses are stored canonical (e-mail: lowercased).

CREATE TABLE user_threepids (
    medium TEXT NOT NULL,
    address TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(user_id),
    validated_at BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids(user_id);

CREATE TABLE threepid_validation_sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    medium TEXT NOT NULL,
    address TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    -- What the session may be used for: register, password_reset or add_threepid.
    purpose TEXT NOT NULL,
    last_send_attempt BIGINT NOT NULL,
    -- SHA-256 of the token of the latest mail; NULL once used.
    token_hash TEXT,
    token_expires_ts BIGINT NOT NULL,
    next_link TEXT,
    created_ts BIGINT NOT NULL,
    validated_at BIGINT
);
CREATE UNIQUE INDEX threepid_validation_sessions_key
    ON threepid_validation_sessions(client_secret, medium, address, purpose);
