-- Memberships of our users in rooms this server does not hold (server-server API, "Inviting to a
-- room"; rejecting an invite through the inviting server): the member event is stored as an
-- outlier with a real stream position (so /sync sees the change), and the stripped state the
-- inviting server gave is kept for the invite's `invite_state`.
CREATE TABLE out_of_band_stripped_state (
    event_id TEXT NOT NULL PRIMARY KEY,
    stripped_state TEXT NOT NULL
);
