-- The backward extremities of a room's timeline (server-server API, "Backfilling and retrieving
-- missing events"): events named among the prev_events of an event shown to clients which we do
-- not hold as such an event ourselves (not at all, or only as an outlier). /messages asks other
-- servers for the history behind them (backfill) when a user pages back that far.
CREATE TABLE event_backward_extremities (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

INSERT INTO event_backward_extremities (room_id, event_id)
SELECT DISTINCT e.room_id, d.prev_event_id FROM event_edges d JOIN events e ON e.event_id = d.event_id
WHERE e.rejection_reason IS NULL AND e.outlier = 0 AND e.soft_failed = 0
  AND NOT EXISTS (SELECT 1 FROM events p WHERE p.event_id = d.prev_event_id AND p.outlier = 0);
