-- local placeholder (not committed)
CREATE TABLE placeholder_028 (x INTEGER);
