-- Events kept for the room's graph but never shown to clients (server-server API, "Rejection",
-- "Soft failure"; outliers): an event that failed auth (rejection_reason set), one that passed
-- auth against the state before it but not against the room's current state (soft_failed), and
-- events fetched only for auth chains or state (outlier). Such events get negative stream
-- positions (below every client-visible position), never become forward extremities and never
-- change the room's current state.
ALTER TABLE events ADD COLUMN outlier SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN soft_failed SMALLINT NOT NULL DEFAULT 0;
