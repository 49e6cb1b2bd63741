-- Reports of events and rooms (client-server API "Reporting content"), kept for the operator.
CREATE TABLE event_reports (
    id BIGINT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT,
    -- -100 (most offensive) .. 0; removed from the spec in v1.18, kept when a client sends it.
    score BIGINT,
    received_ts BIGINT NOT NULL
);
CREATE INDEX event_reports_room ON event_reports(room_id, received_ts);

CREATE TABLE room_reports (
    id BIGINT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_ts BIGINT NOT NULL
);
CREATE INDEX room_reports_room ON room_reports(room_id, received_ts);

-- Rooms a user forgot (POST /rooms/{roomId}/forget). The row names the membership event (a leave
-- or ban) the user had when forgetting: the room stays forgotten while that is their membership,
-- and a later membership (a rejoin) makes it remembered again without touching this table.
CREATE TABLE forgotten_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    membership_event_id TEXT NOT NULL,
    forgotten_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- For GET /timestamp_to_event.
CREATE INDEX events_room_ts ON events(room_id, origin_server_ts, stream_ordering);
