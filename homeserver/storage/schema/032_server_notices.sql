-- Server notices (admin API /send_server_notice): each user's one notices room.
CREATE TABLE server_notice_rooms (
    user_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX server_notice_rooms_room ON server_notice_rooms(room_id);
