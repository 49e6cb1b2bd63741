-- OpenID tokens (POST /user/{userId}/openid/request_token): short-lived bearer tokens a user hands
-- to a third party, which checks them with GET /_matrix/federation/v1/openid/userinfo.
-- Stored hashed like access tokens; expired rows are deleted by the housekeeping job.
CREATE TABLE openid_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    expiry_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens(expiry_ts);
