-- Room state as state groups: each group is either a full snapshot of a room's state or a delta
-- against a previous group (prev_group); delta chains are kept short (see StateGroupsStore), so
-- reading any state costs a bounded number of rows, and storing a state change costs one row,
-- never a copy of the whole state.

CREATE TABLE state_groups (
    id BIGINT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    -- The group this one is a delta against; NULL for a full snapshot.
    prev_group BIGINT REFERENCES state_groups(id),
    -- How many deltas lie between this group and its snapshot (0 for a snapshot).
    delta_depth INTEGER NOT NULL
);
CREATE INDEX state_groups_room ON state_groups(room_id);
CREATE INDEX state_groups_prev ON state_groups(prev_group);

-- For a snapshot: every (type, state_key) of the state. For a delta: what changed against
-- prev_group; event_id NULL means the key is absent from this state.
CREATE TABLE state_group_entries (
    state_group BIGINT NOT NULL REFERENCES state_groups(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT,
    PRIMARY KEY (state_group, type, state_key)
);

-- The state before and after each event (equal for non-state events).
CREATE TABLE event_to_state_groups (
    event_id TEXT NOT NULL PRIMARY KEY,
    state_group_before BIGINT NOT NULL REFERENCES state_groups(id),
    state_group_after BIGINT NOT NULL REFERENCES state_groups(id)
);
CREATE INDEX event_to_state_groups_before ON event_to_state_groups(state_group_before);
CREATE INDEX event_to_state_groups_after ON event_to_state_groups(state_group_after);
