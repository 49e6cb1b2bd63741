-- Pushers (POST /pushers/set): where a user's devices want push notifications sent. One per
-- (user, app_id, pushkey); tied to the device that set it up, and deleted with it. `data` is the
-- client's JSON object (for http pushers it holds the gateway `url`). `pushkey_ts` is in ms.
-- `last_stream_ordering`: the last of the user's notifications this pusher has dealt with
-- (sent, skipped as read, or given up on), so delivery resumes there after a restart.
CREATE TABLE pushers (
    id BIGINT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    pushkey_ts BIGINT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT,
    lang TEXT NOT NULL,
    data TEXT NOT NULL,
    last_stream_ordering BIGINT NOT NULL,
    UNIQUE (user_id, app_id, pushkey)
);
CREATE INDEX pushers_app_pushkey ON pushers(app_id, pushkey);
CREATE INDEX pushers_device ON pushers(user_id, device_id);

-- Notifications (GET /notifications): the events a user's push rules said to notify about,
-- with those actions (JSON), recorded in the background after each event is persisted.
-- `stream_ordering` is the event's position in the events stream; `ts` when it was recorded (rows
-- older than a month are deleted by the housekeeping job).
CREATE TABLE push_notifications (
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    actions TEXT NOT NULL,
    highlight BOOLEAN NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
CREATE INDEX push_notifications_user_stream ON push_notifications(user_id, stream_ordering);
CREATE INDEX push_notifications_user_highlight ON push_notifications(user_id, highlight, stream_ordering);
CREATE INDEX push_notifications_ts ON push_notifications(ts);
