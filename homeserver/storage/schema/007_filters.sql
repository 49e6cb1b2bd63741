-- Filters uploaded by users (client-server API "Filtering", POST /user/{userId}/filter).
-- Filter IDs are numbered per user from 0; the API hands them out as strings. filter_json is the
-- filter as uploaded, canonical JSON (sorted keys), so an identical upload finds its earlier ID.
CREATE TABLE user_filters (
    user_id TEXT NOT NULL,
    filter_id BIGINT NOT NULL,
    filter_json TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);
