"""Numbered, append-only migrations of the state store (SQLite file or PostgreSQL).

This is the one list of the state store's tables; the warehouse has its own in
`warehouse.migrations`. `StateStore` applies every pending migration when it opens, in one write
transaction, and records each in `state_migrations`, so existing homes upgrade in place. Each
migration is written once in SQLite DDL; on PostgreSQL every statement goes through
`warehouse.state.sqlcompat.translate_ddl`. Never edit or renumber a released migration (homes
have recorded its number and name): add the next number.

| # | tables | used by |
|---|---|---|
| 1 | proposals, proposal_votes | `guardrails.approvals` |
| 2 | tickets | `tools.tickets` (the local backend) |
| 3 | audit_log | `guardrails.audit` |
| 4 | model_calls, runs | `guardrails.budget` (the self-budget meter) |
| 5 | anomalies, anomaly_feedback, anomaly_mutes | `tools.anomalies.store` |
| 6 | alert_deliveries | `tools.notify.ledger` |
| 7 | policy_firings | `tools.budgets.service` |
| 8 | sweeps | `tools.sweep.service` |
| 9 | runaway_flags | `tools.events.flags` |
| 10 | ticket_links, ticket_tracked, ticket_comments | `tools.tickets` (links, backends) |
| 11 | savings | `tools.savings.service` |
| 12 | slack_events, slack_cards | `agent.slack.state` |
| 13 | scheduler_runs | `agent.serve.scheduler` |
| 14 | ticket_tracked.tracked_at | `tools.tickets.links` |
| 15 | model_call_reservations | `guardrails.budget` (a call's worst case, held until settled) |
| 16 | proposals.executor, proposals.heartbeat_at | `guardrails.approvals` (an execution's lease) |

LangGraph's checkpoint tables live in the same database but are LangGraph's own (created by its
checkpointer's `setup()`), not part of this list.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["STATE_MIGRATIONS", "VERSIONS_TABLE", "StateMigration", "latest_version"]


class StateMigration(NamedTuple):
    """One numbered schema change: `name` is its one-line description (recorded in
    `state_migrations`), `sql` its SQLite statements separated by `;`."""

    version: int
    name: str
    sql: str


VERSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS state_migrations (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
"""Which migrations a database has (created before the first migration runs)."""

STATE_MIGRATIONS: tuple[StateMigration, ...] = (
    StateMigration(
        1,
        "approvals ledger",
        """
        CREATE TABLE proposals (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            params TEXT NOT NULL,
            summary TEXT NOT NULL,
            evidence TEXT NOT NULL,
            expected_monthly_saving TEXT NOT NULL,
            currency TEXT NOT NULL,
            risk TEXT NOT NULL,
            rollback TEXT NOT NULL,
            owner TEXT,
            expires_at TEXT NOT NULL,
            action_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            created_by TEXT NOT NULL,
            run_id TEXT,
            decided_by TEXT,
            decided_at TEXT,
            reason TEXT,
            started_at TEXT,
            finished_at TEXT,
            result TEXT,
            version INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX proposals_status ON proposals (status);
        CREATE TABLE proposal_votes (
            proposal_id TEXT NOT NULL REFERENCES proposals (id),
            approver TEXT NOT NULL,
            decision TEXT NOT NULL,
            action_hash TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (proposal_id, approver)
        );
        """,
    ),
    StateMigration(
        2,
        "local tickets",
        """
        CREATE TABLE tickets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            owner TEXT,
            priority TEXT NOT NULL,
            status TEXT NOT NULL,
            proposal_id TEXT
        );
        """,
    ),
    StateMigration(
        3,
        "audit log",
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            run_id TEXT,
            payload TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        """,
    ),
    StateMigration(
        4,
        "self-budget meter",
        """
        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            run_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cost_usd TEXT NOT NULL,
            prompt_hash TEXT NOT NULL
        );
        CREATE INDEX model_calls_at ON model_calls (at);
        CREATE INDEX model_calls_run ON model_calls (run_id);
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            model TEXT NOT NULL,
            model_calls INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            cost_usd TEXT NOT NULL DEFAULT '0'
        );
        """,
    ),
    StateMigration(
        5,
        "anomalies",
        """
        CREATE TABLE anomalies (
            id TEXT PRIMARY KEY,
            series TEXT NOT NULL,
            series_key TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
            start_day TEXT NOT NULL,
            end_day TEXT NOT NULL,
            days INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'expected', 'planned',
                'false_positive', 'new_normal', 'resolved', 'muted')),
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            metric TEXT NOT NULL,
            currency TEXT NOT NULL,
            expected TEXT NOT NULL,
            actual TEXT NOT NULL,
            impact TEXT NOT NULL,
            score REAL NOT NULL,
            root_cause TEXT NOT NULL,
            owner TEXT,
            detail TEXT NOT NULL
        );
        CREATE INDEX anomalies_series ON anomalies (series_key, direction);
        CREATE INDEX anomalies_status ON anomalies (status, end_day);
        CREATE TABLE anomaly_feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            anomaly_id TEXT NOT NULL REFERENCES anomalies (id),
            status TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            reason TEXT
        );
        CREATE INDEX anomaly_feedback_anomaly ON anomaly_feedback (anomaly_id);
        CREATE TABLE anomaly_mutes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dimension TEXT NOT NULL,
            value TEXT NOT NULL,
            from_day TEXT NOT NULL,
            until_day TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            reason TEXT
        );
        """,
    ),
    StateMigration(
        6,
        "alerts",
        """
        CREATE TABLE alert_deliveries (
            dedupe_key TEXT NOT NULL,
            channel TEXT NOT NULL,
            event TEXT NOT NULL,
            alert_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            owner TEXT,
            title TEXT NOT NULL,
            channel_type TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            PRIMARY KEY (dedupe_key, channel, event)
        );
        CREATE INDEX alert_deliveries_updated ON alert_deliveries (updated_at);
        """,
    ),
    StateMigration(
        7,
        "policy firings",
        """
        CREATE TABLE policy_firings (
            key TEXT PRIMARY KEY,
            budget TEXT NOT NULL,
            period_start TEXT NOT NULL,
            threshold TEXT NOT NULL,
            fired_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            value TEXT NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX policy_firings_budget ON policy_firings (budget, period_start);
        """,
    ),
    StateMigration(
        8,
        "sweeps",
        """
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            since TEXT NOT NULL,
            until TEXT NOT NULL,
            status TEXT NOT NULL,
            digest TEXT NOT NULL
        );
        CREATE INDEX sweeps_status ON sweeps (status, started_at);
        """,
    ),
    StateMigration(
        9,
        "runaway flags",
        """
        CREATE TABLE IF NOT EXISTS runaway_flags (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            rule TEXT NOT NULL,
            task_id TEXT NOT NULL DEFAULT '',
            team TEXT,
            status TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_true_at TEXT NOT NULL,
            resolved_at TEXT,
            trigger_received_at TEXT NOT NULL,
            latency_seconds REAL NOT NULL,
            evidence TEXT NOT NULL,
            proposal_ids TEXT NOT NULL DEFAULT '[]'
        );
        CREATE UNIQUE INDEX IF NOT EXISTS runaway_flags_open
            ON runaway_flags (agent_id, rule, task_id) WHERE status = 'open';
        CREATE INDEX IF NOT EXISTS runaway_flags_status ON runaway_flags (status, opened_at);
        """,
    ),
    StateMigration(
        10,
        "ticket links",
        """
        CREATE TABLE ticket_links (
            dedup_key TEXT PRIMARY KEY,
            local_ticket_id INTEGER NOT NULL REFERENCES tickets (id),
            backend TEXT NOT NULL,
            external_key TEXT,
            url TEXT,
            ticket_proposal_id TEXT NOT NULL,
            finding_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE TABLE ticket_tracked (
            dedup_key TEXT NOT NULL REFERENCES ticket_links (dedup_key),
            proposal_id TEXT NOT NULL,
            synced_status TEXT,
            posted TEXT NOT NULL DEFAULT '[]',
            synced_at TEXT,
            PRIMARY KEY (dedup_key, proposal_id)
        );
        CREATE INDEX ticket_tracked_proposal ON ticket_tracked (proposal_id);
        CREATE TABLE ticket_comments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER NOT NULL REFERENCES tickets (id),
            at TEXT NOT NULL,
            body TEXT NOT NULL
        );
        """,
    ),
    StateMigration(
        11,
        "realized savings",
        """
        CREATE TABLE savings (
            proposal_id TEXT NOT NULL REFERENCES proposals (id),
            resource_id TEXT NOT NULL,
            action TEXT NOT NULL,
            owner TEXT,
            executed_at TEXT NOT NULL,
            estimated_monthly TEXT NOT NULL,
            baseline_daily TEXT,
            actual_daily TEXT,
            measured_daily TEXT,
            post_days INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('measuring', 'measured', 'rolled_back',
                'no_bills')),
            currency TEXT NOT NULL,
            metric TEXT NOT NULL,
            baseline_start TEXT NOT NULL,
            baseline_end TEXT NOT NULL,
            baseline_days INTEGER NOT NULL DEFAULT 0,
            baseline_rows INTEGER NOT NULL DEFAULT 0,
            post_start TEXT NOT NULL,
            post_end TEXT,
            post_rows INTEGER NOT NULL DEFAULT 0,
            rolled_back_at TEXT,
            rollback_id TEXT,
            last_measured_at TEXT NOT NULL,
            PRIMARY KEY (proposal_id, resource_id)
        );
        CREATE INDEX savings_status ON savings (status, executed_at);
        """,
    ),
    StateMigration(
        12,
        "slack",
        """
        CREATE TABLE slack_events (
            event_key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX slack_events_seen ON slack_events (seen_at);
        CREATE TABLE slack_cards (
            proposal_id TEXT NOT NULL REFERENCES proposals (id),
            channel TEXT NOT NULL,
            ts TEXT,
            shown_status TEXT NOT NULL,
            posted_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (proposal_id, channel)
        );
        """,
    ),
    StateMigration(
        13,
        "scheduler runs",
        """
        CREATE TABLE scheduler_runs (
            job TEXT NOT NULL,
            fire_time TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'skipped',
                'missed', 'abandoned')),
            claimed_by TEXT NOT NULL,
            claimed_at TEXT NOT NULL,
            lease_until TEXT NOT NULL,
            finished_at TEXT,
            coalesced INTEGER NOT NULL DEFAULT 0,
            detail TEXT,
            PRIMARY KEY (job, fire_time)
        );
        CREATE INDEX scheduler_runs_status ON scheduler_runs (job, status);
        """,
    ),
    StateMigration(
        14,
        "ticket tracking order",
        # When a proposal joined a ticket: the order comments are posted in. SQLite's rowid gave
        # it before, but PostgreSQL's ctid moves on every UPDATE, so it is now a column.
        """
        ALTER TABLE ticket_tracked ADD COLUMN tracked_at TEXT;
        """,
    ),
    StateMigration(
        15,
        "self-budget reservations",
        # The worst case of a model call in flight, taken in the transaction that checks the caps
        # and replaced by the actual cost when the call is recorded; a process that died mid-call
        # leaves its row, which stops counting at expires_at.
        """
        CREATE TABLE model_call_reservations (
            run_id TEXT PRIMARY KEY,
            at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            worst_usd TEXT NOT NULL
        );
        CREATE INDEX model_call_reservations_at ON model_call_reservations (at, expires_at);
        """,
    ),
    StateMigration(
        16,
        "execution heartbeats",
        # Who runs an execution (host:pid) and when it last renewed its lease: a live
        # execution is never taken as dead however long it runs; one that stopped renewing is.
        # Rows from before this migration have neither and fall back to started_at.
        """
        ALTER TABLE proposals ADD COLUMN executor TEXT;
        ALTER TABLE proposals ADD COLUMN heartbeat_at TEXT;
        """,
    ),
)


def latest_version() -> int:
    """The number of the newest migration (what a fully upgraded store records last)."""
    return STATE_MIGRATIONS[-1].version
