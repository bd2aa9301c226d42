-- The W3C trace context a run was started in (issue 22): every task of the
-- run hands it to its worker (Task.trace_context), so the worker's span
-- joins the run's trace, also for a task claimed after a restart. NULL for
-- runs started outside a trace, which is most of them and costs nothing.
ALTER TABLE runs ADD COLUMN trace_parent TEXT;
ALTER TABLE runs ADD COLUMN trace_state TEXT;
