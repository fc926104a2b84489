-- Version 7: writing first. The anti-ban guard counts a line's recent messages to customers
-- who never wrote (cold outreach) before each such send; this index keeps that a range scan.
CREATE INDEX messages_line_out ON messages (line_id, direction, at);
