"""The complete tool registry: importing this module registers every tool and action."""

from __future__ import annotations

from tools.actions import agent_tools as action_tools
from tools.actions import ebs as ebs_actions
from tools.actions import ebs_restore as ebs_restore_actions
from tools.actions import ec2 as ec2_actions
from tools.actions import k8s as k8s_actions
from tools.actions import k8s_requests as k8s_request_actions
from tools.actions import rds as rds_actions
from tools.actions import rollback as rollback_actions
from tools.anomalies import agent_tools as anomalies
from tools.budgets import agent_tools as budgets
from tools.events import agent_tools as event_actions
from tools.forecast import agent_tools as forecast_tools
from tools.optimize import agent_tools as optimize_tool
from tools.proposals import agent_tools as proposal_tools
from tools.registry import REGISTRY, ToolRegistry
from tools.savings import agent_tools as savings
from tools.spend import agent_tools as spend_tools
from tools.tickets import agent_tools as ticket_tools
from tools.tickets import service as ticket_actions
from tools.units import agent_tools as unit_economics
from tools.vocab import agent_tools as vocab_tools
from tools.vtags import agent_tools as vtag_tools
from tools.vtags import tagback as vtag_tagback

__all__ = ["registry"]

_MODULES = (
    spend_tools,
    vocab_tools,
    proposal_tools,
    ticket_tools,
    ticket_actions,
    vtag_tools,
    vtag_tagback,
    unit_economics,
    anomalies,
    budgets,
    forecast_tools,
    event_actions,
    optimize_tool,
    action_tools,
    ec2_actions,
    rds_actions,
    ebs_actions,
    ebs_restore_actions,
    k8s_actions,
    k8s_request_actions,
    rollback_actions,
    savings,
)


def registry() -> ToolRegistry:
    """Every registered tool and action."""
    return REGISTRY
