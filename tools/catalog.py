"""The complete tool registry: importing this module registers every tool and action."""

from __future__ import annotations

from tools.actions import ebs as ebs_actions
from tools.actions import ec2 as optimize_actions
from tools.actions import k8s as k8s_actions
from tools.actions import k8s_requests as k8s_request_actions
from tools.actions import rds as rds_actions
from tools.actions import rollback as rollback_actions
from tools.anomalies import service as anomalies
from tools.budgets import service as budgets
from tools.events import agent_tools as event_actions
from tools.forecast import agent_tools as forecast_tools
from tools.optimize import agent_tools as optimize_tool
from tools.proposals import agent_tools as proposal_tools
from tools.registry import REGISTRY, ToolRegistry
from tools.savings import service as savings
from tools.spend import agent_tools as spend_tools
from tools.spend import sql_tool
from tools.tickets import service as tickets
from tools.units import economics as unit_economics
from tools.vtags import agent_tools as vtag_tools
from tools.vtags import tagback as vtag_tagback

__all__ = ["registry"]

_MODULES = (
    spend_tools,
    sql_tool,
    proposal_tools,
    tickets,
    vtag_tools,
    vtag_tagback,
    unit_economics,
    anomalies,
    budgets,
    forecast_tools,
    event_actions,
    optimize_tool,
    optimize_actions,
    rds_actions,
    ebs_actions,
    k8s_actions,
    k8s_request_actions,
    rollback_actions,
    savings,
)


def registry() -> ToolRegistry:
    """Every registered tool and action."""
    return REGISTRY
