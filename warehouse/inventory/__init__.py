"""Inventory and utilization collectors: what runs in the clouds and clusters, and how busy it is.

`finops collect aws` and `finops collect kubernetes` fill two tables (migration 4) that idle and
rightsizing detection read beside the bills:

* `resources` — one row per (provider, resource_id): kind, region, account (the cluster for
  Kubernetes), name, state, instance type, `attached` (volumes, Elastic IPs, load balancers with
  targets), tags / labels, kind-specific `properties`, launch time, and when and from which API it
  was collected;
* `utilization` — one row per (provider, resource_id, metric, ts): the metric's value for the
  period starting at `ts` (hourly by default), with its unit and source.

`resource_id` is exactly what FOCUS `ResourceId` holds for the resource, so
`resources JOIN costs ON resource_id = ResourceId` puts cost beside state and usage:

| provider | kind | resource_id (= ResourceId) |
|---|---|---|
| aws | ec2_instance | `i-0ed9420a261b3f355` |
| aws | ebs_volume | `vol-026837028d27a431d` |
| aws | rds_instance | `arn:aws:rds:us-east-1:836060457634:db:prod` (the DB instance ARN) |
| aws | load_balancer | `arn:aws:elasticloadbalancing:us-east-1:…:loadbalancer/app/web/50dc…` |
| aws | elastic_ip | `eipalloc-0a1b2c3d4e5f67890` (address in `properties.public_ip`) |
| kubernetes | k8s_deployment | `prod-eu-1/payments/deployment/payments-api` |
| kubernetes | k8s_statefulset | `prod-eu-1/search/statefulset/search-cache` |
| kubernetes | k8s_container | `prod-eu-1/payments/deployment/payments-api/api` |

Metrics: cpu_percent, network_in_bytes, network_out_bytes, memory_percent, db_connections,
request_count (CloudWatch, see `aws_metrics`); cpu_request_cores, memory_request_bytes (the pod
spec), cpu_usage_cores, memory_usage_bytes (metrics.k8s.io or Prometheus, see `k8s_usage`).

Re-collecting replaces the snapshot of each (provider, account, region) collected — a resource
gone from the API leaves `resources` — and upserts `utilization`, in one transaction; a failed
collection changes nothing. Modules: `config` (`collect:` in finops.yaml, part of
`WarehouseSettings`), `aws` / `aws_inventory` / `aws_metrics` / `aws_calls` (boto3: retries,
throttling backoff, paginators, errors naming the IAM permission), `k8s` / `k8s_api` /
`k8s_usage` (the official kubernetes client, Prometheus over httpx), `store` (the transaction),
`models`.
"""
