"""What the drill measured, the goals it is judged by, and how it is printed.

The goals (issue 15): no failed request during scale-out, scale-in and rollback;
failures only for requests in flight on the killed replica, counted; the per-caller
limit exact within 1% across replicas; no audit event or decision record lost (the
audit chain verifies, and every 200 has its decision record, except those still in
the killed replica's write queue, which are counted).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Report", "judge", "render"]

#: How long a decision record may wait in a replica's queue before its batch is written
#: (the writer lingers 0.3 s; one more second for the write itself on a busy machine).
WRITE_WINDOW = 1.3


@dataclass
class Report:
    rate: float
    metered_rate: float
    limit_rate: float
    limit_burst: int
    outcomes: list[Any] = field(default_factory=list)
    skipped: int = 0
    rollback_at: float = 0.0
    rollback_version: int = 0
    killed_at: float = 0.0
    dead_at: float = 0.0
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    decisions_check: dict[str, Any] = field(default_factory=dict)
    #: First and last decision time (the replicas' clock) of the metered caller's 200s.
    metered_span: tuple[str, str] | None = None

    # -- during the drill --------------------------------------------------------------
    def rollback_reached(self, outcomes: list[Any], replicas: tuple[str, ...]) -> bool:
        return self._reach(list(outcomes), replicas) is not None

    def _reach(self, outcomes: list[Any], replicas: tuple[str, ...]) -> float | None:
        """Seconds until every replica answered with the restored version only."""
        latest = 0.0
        for replica in replicas:
            after = [o for o in outcomes if o.caller == "scoring-app" and o.status == 200
                     and o.replica == replica and o.started >= self.rollback_at]
            if not after or after[-1].version != self.rollback_version:
                return None
            old = [o.ended for o in after if o.version != self.rollback_version]
            first_new = min(o.ended for o in after if o.version == self.rollback_version
                            and o.ended >= max(old, default=0.0))
            latest = max(latest, first_new - self.rollback_at)
        return latest

    def collect_store(self, services: Any, auditor: Any, database: str) -> None:
        """Decision records per caller, the decision anchors and the audit chain."""
        from sqlalchemy import create_engine, text

        engine = create_engine(database)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT caller, count(*) FROM decisions "
                                         "GROUP BY caller")).all()
                span = conn.execute(text("SELECT min(created), max(created) FROM decisions "
                                         "WHERE caller = 'metered-app'")).one()
        finally:
            engine.dispose()
        self.stored = {str(caller): int(count) for caller, count in rows}
        self.metered_span = (str(span[0]), str(span[1])) if span[0] else None
        self.decisions_check = services.decisions.verify(auditor).to_dict()
        try:
            self.audit = services.audit.verify(auditor).to_dict()
        except Exception as exc:  # Reported, and judged a failure.
            self.audit = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    # -- afterwards ----------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        main = [o for o in self.outcomes if o.caller == "scoring-app"]
        metered = [o for o in self.outcomes if o.caller == "metered-app"]
        phases = list(dict.fromkeys(o.phase for o in self.outcomes))
        by_phase = {p: {"sent": 0, "ok": 0, "failed": 0, "errors": {}} for p in phases}
        for o in main:
            entry = by_phase[o.phase]
            entry["sent"] += 1
            if o.status == 200:
                entry["ok"] += 1
            else:
                entry["failed"] += 1
                why = f"{o.status} {o.error}".strip() if o.status else o.error
                entry["errors"][why] = entry["errors"].get(why, 0) + 1
        # In flight at the kill: started before the process was gone, and not finished
        # when the signal left (a request can still reach it while the kernel tears it down).
        in_flight_at_kill = [o for o in self.outcomes
                             if o.started <= self.dead_at and o.ended >= self.killed_at]
        kill_failures = [o for o in main if o.phase == "kill" and o.status != 200]
        allowed = [o for o in metered if o.status == 200]
        refused = [o for o in metered if o.status == 429]
        window = (max(o.started for o in metered) - min(o.started for o in metered)
                  if metered else 0.0)
        # The limit is judged on the servers' clock: from the first allowed decision to
        # the last, the bucket (full at the first) can grant burst + rate x span tokens.
        # The client's clock would add its network jitter (about a token) to the figure.
        span = 0.0
        if self.metered_span is not None:
            from garrison.types import parse_utc

            first, last = (parse_utc(t) for t in self.metered_span)
            span = (last - first).total_seconds()
        expected = self.limit_burst + self.limit_rate * span
        served_by = Counter(o.replica for o in allowed)
        killed_recent = [o for o in self.outcomes if o.status == 200 and o.replica == "r2"
                         and self.killed_at - WRITE_WINDOW <= o.ended <= self.killed_at]
        oks = Counter(o.caller for o in self.outcomes if o.status == 200)
        reach = self._reach(self.outcomes, ("r1", "r2", "r3"))
        return {
            "requests_sent": len(self.outcomes),
            "answered_200": sum(oks.values()),
            "not_sent_client_bound": self.skipped,
            "main_caller": {"sent": len(main), "ok": sum(1 for o in main if o.status == 200),
                            "failed": sum(1 for o in main if o.status != 200)},
            "phases": by_phase,
            "kill": {"failed": len(kill_failures),
                     "failed_not_in_flight_at_kill": sum(
                         1 for o in kill_failures
                         if not (o.started <= self.dead_at and o.ended >= self.killed_at)),
                     "seconds_to_die": round(self.dead_at - self.killed_at, 3),
                     "in_flight_at_kill_all_replicas": len(in_flight_at_kill)},
            "rate_limit": {"caller": "metered-app", "configured_rate": self.limit_rate,
                           "burst": self.limit_burst, "sent": len(metered),
                           "window_seconds": round(window, 3),
                           "server_span_seconds": round(span, 3), "allowed": len(allowed),
                           "expected": round(expected, 2), "refused_429": len(refused),
                           "other": len(metered) - len(allowed) - len(refused),
                           "accuracy": round(len(allowed) / expected, 4) if expected else None,
                           "replicas_that_allowed": dict(sorted(served_by.items()))},
            "rollback": {"restored_version": self.rollback_version,
                         "seconds_to_reach_every_replica": None if reach is None
                         else round(reach, 3)},
            "audit_chain": self.audit,
            "decisions": {"answered_200": dict(oks), "stored": self.stored,
                          "missing": {c: oks[c] - self.stored.get(c, 0) for c in oks},
                          "answered_by_killed_replica_just_before_kill": len(killed_recent),
                          "failed_in_kill": len(kill_failures),
                          "accounting": _accounting(self.decisions_check)},
            "exit_codes": self.exit_codes,
            "failures": [{"caller": o.caller, "phase": o.phase, "status": o.status,
                          "error": o.error, "replica": o.replica,
                          "started_vs_kill": round(o.started - self.killed_at, 3),
                          "ended_vs_kill": round(o.ended - self.killed_at, 3)}
                         for o in self.outcomes if o.status not in (200, 429)][:50],
        }


def _accounting(check: dict[str, Any]) -> dict[str, Any]:
    """`audit decisions`' accounting: each worker's decision log and what it lost."""
    writers = [{k: w[k] for k in ("writer", "state", "used", "written", "dropped",
                                  "missing", "possibly_missing")}
               for w in check.get("writers", [])]
    unclosed = [w for w in writers if w["state"] == "unclosed"]
    return {"writers": writers, "problems": check.get("problems", []),
            "unclosed_logs": len(unclosed),
            "accounted_to_unclosed": sum(w["missing"] + w["possibly_missing"]
                                         for w in unclosed),
            "integrity_problems": [p for p in check.get("problems", [])
                                   if p["reason"] not in ("dropped", "missing", "unclosed")],
            "lost_in_closed_logs": sum(w["dropped"] + w["missing"] for w in writers
                                       if w["state"] != "unclosed")}


def judge(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal with its verdict and the figure it was judged on."""
    phases = s["phases"]
    clean = {p: phases[p]["failed"] for p in phases if p != "kill"}
    missing = sum(max(0, m) for m in s["decisions"]["missing"].values())
    extra = sum(-m for m in s["decisions"]["missing"].values() if m < 0)
    accuracy = s["rate_limit"]["accuracy"] or 0.0
    return {
        "no failure outside the kill": {"ok": not any(clean.values()), "failed": clean},
        "kill: only requests in flight failed": {
            "ok": s["kill"]["failed_not_in_flight_at_kill"] == 0
            and s["kill"]["failed"] <= s["kill"]["in_flight_at_kill_all_replicas"],
            "failed": s["kill"]["failed"],
            "in_flight": s["kill"]["in_flight_at_kill_all_replicas"]},
        "rate limit within 1%": {"ok": abs(accuracy - 1.0) <= 0.01
                                 and s["rate_limit"]["other"] == 0
                                 and len(s["rate_limit"]["replicas_that_allowed"]) == 3,
                                 "accuracy": accuracy},
        "rollback reached every replica": {
            "ok": s["rollback"]["seconds_to_reach_every_replica"] is not None,
            "seconds": s["rollback"]["seconds_to_reach_every_replica"]},
        "audit chain verifies": {"ok": bool(s["audit_chain"].get("ok")),
                                 "events": s["audit_chain"].get("events")},
        # Every 200 has its record, except records still queued in the killed replica:
        # those must be counted by Garrison itself (its log is unclosed, and `audit
        # decisions` bounds what it may have lost). A record without a 200 can only be
        # a request that completed on the killed replica while its answer was lost.
        "decision records: none lost but the killed replica's, and those counted": {
            "ok": extra <= s["decisions"]["failed_in_kill"]
            and missing <= s["decisions"]["accounting"]["accounted_to_unclosed"]
            and s["decisions"]["accounting"]["unclosed_logs"] == 1
            and s["decisions"]["accounting"]["lost_in_closed_logs"] == 0
            and not s["decisions"]["accounting"]["integrity_problems"],
            "missing": missing,
            "counted_by_garrison": s["decisions"]["accounting"]["accounted_to_unclosed"]},
    }


def render(s: dict[str, Any], verdict: dict[str, dict[str, Any]]) -> str:
    lines = ["garrison multi-replica drill",
             f"  requests sent {s['requests_sent']}, answered 200 {s['answered_200']}, "
             f"not sent (client bound) {s['not_sent_client_bound']}",
             "  main caller by phase (sent / 200 / failed):"]
    for phase, p in s["phases"].items():
        errors = f"  {p['errors']}" if p["errors"] else ""
        lines.append(f"    {phase:<16} {p['sent']:>6} {p['ok']:>6} {p['failed']:>4}{errors}")
    k, r = s["kill"], s["rate_limit"]
    lines += [
        f"  kill: {k['failed']} failed, all in flight at the SIGKILL "
        f"({k['in_flight_at_kill_all_replicas']} in flight on all replicas)"
        if not k["failed_not_in_flight_at_kill"] else
        f"  kill: {k['failed']} failed, {k['failed_not_in_flight_at_kill']} NOT in flight",
        f"  rate limit ({r['configured_rate']:g}/s, burst {r['burst']}), {r['sent']} sent over "
        f"{r['window_seconds']} s across replicas {r['replicas_that_allowed']}: allowed "
        f"{r['allowed']}, expected {r['expected']} (burst + rate x {r['server_span_seconds']} "
        f"s between the first and last allowed decision) -> accuracy {r['accuracy']}",
        f"  rollback to version {s['rollback']['restored_version']} reached every replica in "
        f"{s['rollback']['seconds_to_reach_every_replica']} s",
        f"  audit chain: {s['audit_chain']}",
        f"  decision records: 200s {s['decisions']['answered_200']}, stored "
        f"{s['decisions']['stored']}, missing {s['decisions']['missing']} (200s from the "
        f"killed replica in its last {WRITE_WINDOW} s: "
        f"{s['decisions']['answered_by_killed_replica_just_before_kill']})",
        "  decision logs (audit decisions): "
        + ", ".join(f"{w['state']} used {w['used']} written {w['written']} missing "
                    f"{w['missing']}+{w['possibly_missing']}"
                    for w in s["decisions"]["accounting"]["writers"])
        + f"; integrity problems {len(s['decisions']['accounting']['integrity_problems'])}",
        f"  exit codes {s['exit_codes']}",
        "goals:"]
    for goal, v in verdict.items():
        figures = {k: v[k] for k in v if k != "ok"}
        lines.append(f"  [{'ok' if v['ok'] else 'FAIL'}] {goal}: {figures}")
    return "\n".join(lines)
