-- Mails waiting to be handed to the SMTP server (homeserver/mail/outbox.py). A row is deleted once
-- the SMTP server has accepted the mail; a failure is retried with backoff, never dropped silently.

CREATE TABLE email_outbox (
    id TEXT NOT NULL PRIMARY KEY,
    recipient TEXT NOT NULL,
    -- The whole RFC 5322 message, as sent.
    message TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ts BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX email_outbox_due ON email_outbox(next_attempt_ts);
