-- Approval steps: the approver's comment is kept for audit, and the default
-- action and expiry are shown while an approval waits (mirrors sqlite/0006).

ALTER TABLE approvals ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN default_action TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN expires_at BIGINT;
