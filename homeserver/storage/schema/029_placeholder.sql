-- local placeholder (not committed)
CREATE TABLE placeholder_029 (x INTEGER);
