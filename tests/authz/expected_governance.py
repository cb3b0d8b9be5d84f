"""Expected roles of the account, audit-trail and privacy services."""

from tests.authz.roles import ADMINS, LEADS_ADMINS

EXPECTED: dict[str, frozenset[str]] = {
    "labeling.project.accounts.create_account": LEADS_ADMINS,
    "labeling.project.accounts.set_role": LEADS_ADMINS,
    "labeling.project.accounts.disable_account": LEADS_ADMINS,
    "labeling.project.accounts.enable_account": LEADS_ADMINS,
    "labeling.project.accounts.reset_password": LEADS_ADMINS,
    "labeling.project.accounts.list_accounts": LEADS_ADMINS,
    "labeling.project.audit_log.search": LEADS_ADMINS,
    "labeling.project.audit_log.export_csv": LEADS_ADMINS,
    "labeling.project.audit_log.filter_choices": LEADS_ADMINS,
    "labeling.privacy.access.export_end_user": ADMINS,
    "labeling.privacy.erasure.erase_end_user": ADMINS,
    "labeling.privacy.retention.apply_retention": ADMINS,
    "labeling.privacy.opt_out.opt_out": ADMINS,
    "labeling.privacy.opt_out.opt_in": ADMINS,
}
