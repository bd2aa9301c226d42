-- A run made by RetryRunFrom names the run whose outputs it reused, and a
-- failed run keeps why it failed as a stable code beside the message
-- (mirrors sqlite/0003).

ALTER TABLE runs ADD COLUMN retry_of_run_id TEXT;
ALTER TABLE runs ADD COLUMN error_code TEXT;
