"""Optimization actions: write tools that propose stopping, starting and resizing EC2 instances,
the approved executors that re-validate and act once, and `rollback_action`.

Importing `tools.actions.ec2` registers the tools and their actions (see `tools.catalog`).
"""
