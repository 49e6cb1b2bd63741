-- Other servers' signing keys (federation): each verify key we have accepted, and the latest
-- signed key response from each source (the server itself or a notary), re-served by our notary API.

CREATE TABLE server_signature_keys (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    -- Unpadded base64 of the ed25519 public key.
    verify_key TEXT NOT NULL,
    -- Valid for events and requests up to this time (ms); for an old key, when it expired.
    valid_until_ts BIGINT NOT NULL,
    -- Set for keys listed under old_verify_keys: the key was replaced at this time (ms).
    expired_ts BIGINT,
    from_server TEXT NOT NULL,
    ts_added BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

CREATE TABLE server_key_responses (
    server_name TEXT NOT NULL,
    from_server TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    -- The response as the server signed it (canonical JSON).
    response_json TEXT NOT NULL,
    ts_added BIGINT NOT NULL,
    PRIMARY KEY (server_name, from_server)
);
