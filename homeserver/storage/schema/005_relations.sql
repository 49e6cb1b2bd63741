-- Events that relate to another event (content.m.relates_to with a rel_type): edits, threads,
-- annotations (reactions), references. A redacted child loses its relation (row deleted).
CREATE TABLE event_relations (
    event_id TEXT NOT NULL PRIMARY KEY,
    relates_to_id TEXT NOT NULL,
    relation_type TEXT NOT NULL,
    -- m.annotation's key (the reaction), else NULL.
    aggregation_key TEXT,
    room_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    sender TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations(relates_to_id, relation_type, stream_ordering);
CREATE INDEX event_relations_room_type ON event_relations(room_id, relation_type, stream_ordering);
