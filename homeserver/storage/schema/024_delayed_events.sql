-- Delayed events (MSC4140): events a client scheduled to be sent later, unless cancelled first.

-- Each scheduled event, until it is sent (the row goes in the transaction that persists the
-- event: it is sent at most once) or cancelled. `due_ts` = `running_since` + `delay_ms`.
CREATE TABLE delayed_events (
    delay_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT,
    room_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- NULL for a message, the state key for a state event.
    state_key TEXT,
    content TEXT NOT NULL,
    delay_ms BIGINT NOT NULL,
    running_since BIGINT NOT NULL,
    due_ts BIGINT NOT NULL
);
CREATE INDEX delayed_events_due ON delayed_events(due_ts);
CREATE INDEX delayed_events_user ON delayed_events(user_id, due_ts);

-- PUT /send/{type}/{txnId}?org.matrix.msc4140.delay=: the same transaction ID from the same
-- device is the same delayed event (kept a day, like a client's retries).
CREATE TABLE delayed_event_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    delay_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX delayed_event_txns_created ON delayed_event_txns(created_ts);

-- The delay ID an event was sent under: its sender sees it in unsigned
-- (`org.matrix.msc4140.delay_id`).
CREATE TABLE event_delay_ids (
    event_id TEXT NOT NULL PRIMARY KEY,
    delay_id TEXT NOT NULL
);
