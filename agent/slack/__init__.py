"""The Slack app: chat in threads, approval cards, `/finops`, digests (mounted by `finops serve`).

Import `agent.slack.app.build_slack_app`; this package init stays empty so `agent.config` can
import `agent.slack.config` without pulling in the runtime.
"""
