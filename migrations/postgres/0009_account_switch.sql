-- A tenant's account-switch policy (security.md V10): 'notify' (a re-authorization that yields
-- another Discord account replaces the old grant, audited `account_switched`) or 'require_ack'
-- (the new grant waits, status 'awaiting_ack', while the old one stays active, until an admin
-- acknowledges the switch).
ALTER TABLE tenant_settings ADD COLUMN account_switch TEXT NOT NULL DEFAULT 'notify'
    CHECK (account_switch IN ('notify', 'require_ack'));
ALTER TABLE grants DROP CONSTRAINT grants_status_check;
ALTER TABLE grants ADD CONSTRAINT grants_status_check
    CHECK (status IN ('active', 'reauth_required', 'revoked', 'awaiting_ack'));
