-- The worker that claimed a task's current attempt (issue 23: GetRun's
-- StepRun.workerId). `lease_owner` is cleared as soon as the lease ends
-- (done, cancelled, handed back), so it cannot say who ran a finished
-- step; `claimed_by` is set by the claim and kept after the lease ends,
-- cleared only when the next attempt is queued or the claim is handed
-- back unseen. Leases held now are their claim; finished tasks from
-- before this migration read as unclaimed ("").
ALTER TABLE tasks ADD COLUMN claimed_by TEXT;
UPDATE tasks SET claimed_by = lease_owner WHERE status = 'leased';
