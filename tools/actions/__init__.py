"""Optimization actions: the shared base (`base`: resolve, plan, precheck, execute, reverse, and
`register`), the blast-radius limits (`limits`), one module per action family, and the agent
tools that propose them (`agent_tools`).

Importing an action module registers its actions; `tools.catalog` imports them all.
"""
