"""Graph wiring only: the chat graph (model ⇄ tools) and the per-proposal action graph."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.runtime.action_nodes import ActionNodes
from agent.runtime.chat_nodes import ChatNodes
from agent.runtime.state import ActionState, ChatState

__all__ = ["build_action_graph", "build_chat_graph"]


def build_chat_graph(
    nodes: ChatNodes, checkpointer: BaseCheckpointSaver[str]
) -> CompiledStateGraph[ChatState, None, ChatState, ChatState]:
    graph = StateGraph(ChatState)
    graph.add_node("agent", nodes.agent)
    graph.add_node("tools", nodes.tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", nodes.route, {"tools": "tools", "__end__": END})
    graph.add_conditional_edges("tools", nodes.after_tools, {"agent": "agent", "__end__": END})
    return graph.compile(checkpointer=checkpointer)


def build_action_graph(
    nodes: ActionNodes, checkpointer: BaseCheckpointSaver[str]
) -> CompiledStateGraph[ActionState, None, ActionState, ActionState]:
    graph = StateGraph(ActionState)
    graph.add_node("await_decision", nodes.await_decision)
    graph.add_node("revalidate", nodes.revalidate)
    graph.add_node("execute", nodes.execute)
    graph.add_edge(START, "await_decision")
    graph.add_edge("await_decision", "revalidate")
    graph.add_conditional_edges("revalidate", nodes.route, {"execute": "execute", "__end__": END})
    graph.add_edge("execute", END)
    return graph.compile(checkpointer=checkpointer)
