"""Optimization findings from the inventory, utilization and bills (`finops recommend`).

* `tools.optimize.idle` — idle rules, each following a published rule (AWS Trusted Advisor's
  cost-optimization checks) with its thresholds in `optimize.idle`;
* `tools.optimize.rightsize` — instances to the cheapest fitting size of their family (AWS Compute
  Optimizer's p99.5 + 20% headroom) and Kubernetes requests (VPA recommender defaults);
* `tools.optimize.commitments` — Savings Plan / reservation coverage of the steady on-demand
  baseline, and under-used commitments from the FOCUS commitment columns;
* `tools.optimize.engine` — one run (`recommend`), protection (`finops:protected=true`), totals;
* `tools.optimize.agent_tools` — the `optimization_findings` read tool.

Every finding carries its evidence (metric, statistic, window, value, threshold), the owner
(`vtag:team` when defined), the billed monthly run rate, and a saving whose `source` says whether
it comes from the bills or, where the bills lack the resource, from list prices.
"""
