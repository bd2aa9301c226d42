-- Tasks become a queue with leases (mirrors sqlite/0004). A row stays after
-- its step finishes ('done' or 'cancelled') so that a late or repeated call
-- about it is told why it is refused; it goes with its run.
--
-- lease_token only ever grows (fencing): each lease takes the next value,
-- and a re-queued attempt keeps the last one so its next lease is higher.

ALTER TABLE tasks ADD COLUMN task_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN status TEXT NOT NULL DEFAULT 'queued';
ALTER TABLE tasks ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
ALTER TABLE tasks ADD COLUMN lease_deadline BIGINT;
ALTER TABLE tasks ADD COLUMN cost_so_far BIGINT NOT NULL DEFAULT 0;

-- Rows written before this migration get an id of the same shape.
UPDATE tasks SET task_id = 'task_' || substr(md5(random()::text || run_id || step_key), 1, 26) WHERE task_id = '';

CREATE UNIQUE INDEX tasks_by_id ON tasks (task_id);
-- The claim query: oldest queued task of the agents a worker serves.
CREATE INDEX tasks_queued ON tasks (tenant_id, agent, created_at) WHERE status = 'queued';
-- The sweeper: leases by deadline.
CREATE INDEX tasks_leased ON tasks (lease_deadline) WHERE status = 'leased';
