-- (mirrors sqlite/0009) A step's `timeout` bounds each attempt of a worker step (agent, planner):
-- the lease cannot outlive the attempt's deadline, and the sweeper fails an
-- attempt whose lease ended there with STEP_TIMEOUT.
--
-- timeout_ms:       the step's timeout, copied when the task is queued;
--                   NULL for no timeout (and for the server's own steps,
--                   which time themselves).
-- attempt_deadline: claim time + timeout_ms, set by each claim (ms).
-- timed_out_token:  the token of the last lease the step timeout ended, so
--                   that lease's late heartbeat is told to stop.

ALTER TABLE tasks ADD COLUMN timeout_ms BIGINT;
ALTER TABLE tasks ADD COLUMN attempt_deadline BIGINT;
ALTER TABLE tasks ADD COLUMN timed_out_token BIGINT;
