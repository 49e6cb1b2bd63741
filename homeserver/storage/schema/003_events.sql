-- Rooms and their events: the event graph, current state and memberships.

CREATE TABLE rooms (
    room_id TEXT NOT NULL PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);

CREATE TABLE events (
    event_id TEXT NOT NULL PRIMARY KEY,
    -- Position in the server-wide stream of events (order of persistence).
    stream_ordering BIGINT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT,
    sender TEXT NOT NULL,
    depth BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    -- The PDU exactly as hashed and signed (canonical JSON).
    json TEXT NOT NULL,
    -- Set if the event failed its auth checks (kept for the graph, never served as valid).
    rejection_reason TEXT,
    -- For a state event: the event it replaced in the state (clients get its content as prev_content).
    replaces_state TEXT
);
CREATE INDEX events_room_stream ON events(room_id, stream_ordering);
CREATE INDEX events_room_topological ON events(room_id, depth, stream_ordering);

CREATE TABLE event_edges (
    event_id TEXT NOT NULL,
    prev_event_id TEXT NOT NULL,
    PRIMARY KEY (event_id, prev_event_id)
);
CREATE INDEX event_edges_prev ON event_edges(prev_event_id);

CREATE TABLE event_auth (
    event_id TEXT NOT NULL,
    auth_id TEXT NOT NULL,
    PRIMARY KEY (event_id, auth_id)
);

-- The events of a room that no other event of it points to yet: the next event's prev_events.
CREATE TABLE event_forward_extremities (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

CREATE TABLE current_state_events (
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, type, state_key)
);

-- Every membership event, and each user's current membership per room.
CREATE TABLE room_memberships (
    event_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    membership TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL
);
CREATE INDEX room_memberships_user ON room_memberships(user_id, room_id);

CREATE TABLE current_memberships (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX current_memberships_user ON current_memberships(user_id, membership);

-- PUT /send/{type}/{txnId}: the same transaction ID from the same device is the same event.
CREATE TABLE event_txn_ids (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Redaction events and what they redact; an event is served redacted once a redaction of it
-- exists (its auth was checked when the redaction was persisted).
CREATE TABLE redactions (
    event_id TEXT NOT NULL PRIMARY KEY,
    redacts TEXT NOT NULL
);
CREATE INDEX redactions_redacts ON redactions(redacts);
