"""Every action a principal can attempt, by kebab-case name, with its description.

The registry is the single source of truth: the policy table refers to it, audit
events use the same names, and ``docs/security-model.md`` renders it (a test
checks that every action is documented).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACTIONS", "Action", "action"]


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    #: Allowed to any active principal when the resource is the principal itself.
    self_service: bool = False


_ALL = [
    # Identities and keys.
    Action("authenticate", "Present credentials; every failure is recorded (never granted)."),
    Action("create-principal", "Create a person or service account."),
    Action("list-principals", "List principals and their roles."),
    Action("disable-principal", "Disable a principal; its keys stop working at once."),
    Action("enable-principal", "Re-enable a disabled principal."),
    Action("grant-role", "Give a role to a principal."),
    Action("revoke-role", "Take a role away from a principal."),
    Action("create-api-key", "Create an API key for a principal.", self_service=True),
    Action("list-api-keys", "List API keys (never their secrets).", self_service=True),
    Action("revoke-api-key", "Revoke an API key.", self_service=True),
    Action("rotate-signing-key", "Make a new server signing key the active one."),
    Action("open-console-session", "Sign in to the web console (staff roles only)."),
    Action("close-console-session", "Sign a web console session out (own sessions: anyone).",
           self_service=True),
    # Audit trail.
    Action("view-audit-log", "Read and filter audit events."),
    Action("verify-audit-log", "Verify the hash chain and signed checkpoints."),
    Action("export-audit-log", "Export audit events as JSON lines."),
    Action("checkpoint-audit-log", "Sign and record the current head of the audit chain."),
    Action("verify-governance-state",
           "Reconcile principals, keys, model stages and deployments with the audit trail."),
    Action("seal-governance-state",
           "Seal the governance state that predates state seals, once (Garrison itself, "
           "never granted)."),
    Action("refuse-governance-state",
           "Refuse state the signed audit trail does not back (Garrison itself, never granted)."),
    Action("quarantine-audit-events",
           "Move records forged past the signed head out of the chain (Garrison itself)."),
    Action("acknowledge-audit-incident",
           "Acknowledge an audit incident (records moved to quarantine) once examined."),
    # Registry.
    Action("list-models", "List models and versions."),
    Action("view-model", "Read a model version's metadata, manifest and scan report."),
    Action("register-model-version", "Register a new model version (scanned and signed)."),
    Action("verify-model-version", "Verify a version's signature and artifact digest."),
    Action("approve-model-version", "Approve a registered version (four eyes enforced)."),
    Action("reject-model-version", "Reject a registered version."),
    Action("promote-model-version", "Move an approved version to shadow or production."),
    Action("rollback-model", "Restore the previous production version."),
    Action("retire-model-version", "Retire a version so it can no longer serve."),
    Action("download-artifact", "Download a decrypted model artifact (model theft risk)."),
    Action("extend-scan-allowlist", "Add importable callables to the scanner allow-list."),
    Action("load-model-version", "Load a verified model into memory (Garrison itself)."),
    Action("compile-model-version", "Build and check the compiled runtime of a loaded "
           "version against its reference sample (Garrison itself, never granted)."),
    Action("serve-model-version", "Mark a model version servable or unavailable in a "
           "gateway, with the reason (Garrison itself)."),
    Action("check-model-version", "Run the pre-transition checks (servability smoke test) "
           "on a version (Garrison itself, never granted)."),
    # Release gates.
    Action("set-gate-policy", "Set or replace a model's release-gate policy (signed, audited)."),
    Action("view-gate", "Read a model's gate policy, gate reports and overrides."),
    Action("run-gate", "Run the release gate of a version on its policy's holdout set."),
    Action("request-gate-override",
           "Ask to let a version through a failed gate, with a written reason."),
    Action("approve-gate-override",
           "Grant another admin's gate override (four eyes: never one's own request)."),
    Action("configure-deployment", "Set a model's serving policy (limits, fallback, output)."),
    # Serving.
    Action("invoke-model", "Call a model's prediction endpoints."),
    Action("view-decision", "Fetch a decision record and its explanation by request id."),
    Action("open-decision-log", "Start numbering decision records (Garrison itself)."),
    Action("reserve-decision-records",
           "Reserve decision record numbers ahead of use; heartbeat (Garrison itself)."),
    Action("drop-decision-records", "Record decision records that could not be stored "
           "(Garrison itself)."),
    Action("close-decision-log", "Close a decision log with its last number (Garrison itself)."),
    Action("view-metrics", "Scrape the gateway's Prometheus metrics."),
    Action("view-shadow-report", "Read shadow-deployment comparisons."),
    # Data security and monitoring.
    Action("register-dataset", "Record a dataset version with its scan reports."),
    Action("scan-dataset", "Run PII, re-identification and poisoning checks."),
    Action("pseudonymize-data", "Tokenize columns with the keyed pseudonymization key."),
    Action("reidentify-data", "Decrypt reversibly pseudonymized values."),
    Action("view-lineage", "Read lineage from datasets to models to deployments."),
    Action("view-alerts", "List detection alerts."),
    Action("acknowledge-alert", "Mark a detection alert as handled."),
    Action("raise-alert", "Record a detection alert (Garrison itself, never granted)."),
]

ACTIONS: dict[str, Action] = {a.name: a for a in _ALL}


def action(name: str) -> Action:
    """Look up an action; an unknown name is a programming error, never a silent allow."""
    try:
        return ACTIONS[name]
    except KeyError:
        raise KeyError(f"unknown action {name!r}") from None
