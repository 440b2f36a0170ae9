"""Real-time AI usage events: intake, pricing, storage, and runaway-agent detection.

`finops events` serves an HTTP endpoint that accepts usage events (JSON lines with OpenTelemetry
GenAI attributes plus agent / team / task / API-key ids), prices each one exactly with the model
price table, buffers them in memory and appends them to the warehouse at least once a second
(`usage_events`, rolled up hourly into FOCUS rows in `costs` with source `usage-events`). After
every flush the burn-rate rules run per agent; a runaway is flagged in `state.db` and, per config,
a `disable_api_key` proposal goes to the approvals ledger.

Modules: `config` (strict config sections), `model` (one event line), `batch` (a request body →
priced rows, atomic), `storage` (warehouse tables and the append path), `rollup` (FOCUS rows),
`detector` (in-memory windows and tasks), `norms` (per-agent norms from the warehouse), `rules`
(burn-rate rules), `flags` (flags and proposals), `alerts` (flags as owner alerts through
`tools.notify.service`), `keys` (provider admin APIs), `actions` (the agent tools and the
`disable_api_key` action), `service` (the pipeline), `app` (HTTP), `server` (uvicorn with graceful
shutdown).
"""
