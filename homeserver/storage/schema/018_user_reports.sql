-- Reports of users (client-server API "Reporting content", POST /users/{userId}/report, v1.14),
-- kept for the operator like event_reports and room_reports.
CREATE TABLE user_reports (
    id BIGINT NOT NULL PRIMARY KEY,
    target_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_ts BIGINT NOT NULL
);
CREATE INDEX user_reports_target ON user_reports(target_user_id, received_ts);
