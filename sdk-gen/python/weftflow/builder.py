"""The workflow builder, mirroring the documented one. Steps come from the
typed constructors of ``weftflow.steps`` (``agent(...)``, ``transform(...)``,
...) through :meth:`WorkflowBuilder.add`, or as JSON objects through
:meth:`WorkflowBuilder.step` (the escape hatch for fields this SDK does not
know yet)::

    from weftflow import agent, workflow

    definition = workflow("lead-enrichment").add(
        agent("scrape", agent="web-researcher", task="Scrape {{ input.website }}")
    )

or, as JSON::

    definition = (
        workflow("lead-enrichment")
        .step({"id": "scrape", "type": "agent", "agent": "web-researcher",
               "task": "Scrape company info from {{ input.website }}"})
        .condition({"id": "fit", "dependsOn": ["scrape"],
                    "expression": "$.scrape.output.score >= 70",
                    "onTrue": {"next": "crm"}, "onFalse": {"next": "archive"}})
        .build()
    )

Steps are written as the documents write them: JSON objects with camelCase
keys (the proto's snake_case names work too). ``build()`` makes the
``Workflow`` message; the server validates it, listing every problem at
once, so the builder checks nothing itself.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from google.protobuf import json_format

from weftflow._json import MoneyLike, to_money, to_struct
from weftflow.steps import Step
from weftflow.v1 import step_pb2, workflow_pb2

_FAILURE_MODES = {
    "stop": workflow_pb2.FAILURE_MODE_STOP,
    "continue": workflow_pb2.FAILURE_MODE_CONTINUE,
    "retry": workflow_pb2.FAILURE_MODE_RETRY,
}


def to_step(spec: Mapping[str, Any]) -> step_pb2.Step:
    """The ``Step`` message for a step written as JSON (``type`` defaults to agent).

    Raises ``google.protobuf.json_format.ParseError`` for an unknown key or a
    value of the wrong JSON type.
    """
    step = step_pb2.Step()
    json_format.ParseDict(dict(spec), step)
    _default_types(step)
    return step


def _default_types(step: step_pb2.Step) -> None:
    if not step.type:
        step.type = "agent"
    for branch in step.steps:
        _default_types(branch)
    if step.HasField("step"):
        _default_types(step.step)


def to_policy(
    policy: Optional[Mapping[str, Any]] = None,
    *,
    allow_tools: Optional[list[str]] = None,
    deny_tools: Optional[list[str]] = None,
    require_approval_for: Optional[list[str]] = None,
    max_cost_per_step: Optional[MoneyLike] = None,
    max_total_cost: Optional[MoneyLike] = None,
) -> workflow_pb2.WorkflowPolicy:
    """A ``WorkflowPolicy`` from a documented JSON object and/or keywords."""
    message = workflow_pb2.WorkflowPolicy()
    if policy:
        json_format.ParseDict(dict(policy), message)
    message.allow_tools.extend(allow_tools or [])
    message.deny_tools.extend(deny_tools or [])
    message.require_approval_for.extend(require_approval_for or [])
    if max_cost_per_step is not None:
        message.max_cost_per_step.CopyFrom(to_money(max_cost_per_step))
    if max_total_cost is not None:
        message.max_total_cost.CopyFrom(to_money(max_total_cost))
    return message


class WorkflowBuilder:
    """A workflow definition under construction; see :func:`workflow`."""

    def __init__(self, name: str) -> None:
        self._workflow = workflow_pb2.Workflow(name=name)

    def description(self, text: str) -> WorkflowBuilder:
        """What the workflow is for."""
        self._workflow.description = text
        return self

    def tags(self, *tags: str) -> WorkflowBuilder:
        """Tags, for filtering lists."""
        self._workflow.tags.extend(tags)
        return self

    def input_schema(self, schema: Mapping[str, Any]) -> WorkflowBuilder:
        """JSON Schema every run input must satisfy (checked when a run starts)."""
        self._workflow.input_schema.CopyFrom(to_struct(schema))
        return self

    def output_schema(self, schema: Mapping[str, Any]) -> WorkflowBuilder:
        """JSON Schema the run's output must satisfy before it completes."""
        self._workflow.output_schema.CopyFrom(to_struct(schema))
        return self

    def policy(
        self,
        policy: Optional[Mapping[str, Any]] = None,
        *,
        allow_tools: Optional[list[str]] = None,
        deny_tools: Optional[list[str]] = None,
        require_approval_for: Optional[list[str]] = None,
        max_cost_per_step: Optional[MoneyLike] = None,
        max_total_cost: Optional[MoneyLike] = None,
    ) -> WorkflowBuilder:
        """Tool lists, approval gates and cost caps (cents) for every step."""
        self._workflow.policy.CopyFrom(
            to_policy(
                policy,
                allow_tools=allow_tools,
                deny_tools=deny_tools,
                require_approval_for=require_approval_for,
                max_cost_per_step=max_cost_per_step,
                max_total_cost=max_total_cost,
            )
        )
        return self

    def on_failure(self, mode: str) -> WorkflowBuilder:
        """What a failed step does to the run: "stop", "continue" or "retry"."""
        self._workflow.on_failure = _FAILURE_MODES[mode]
        return self

    def retries(self, retries: int) -> WorkflowBuilder:
        """Retries of a failed step when on_failure is "retry"."""
        self._workflow.retries = retries
        return self

    def timeout(self, seconds: int) -> WorkflowBuilder:
        """Longest a run may take, in seconds."""
        self._workflow.timeout = seconds
        return self

    def add(self, *steps: Step) -> WorkflowBuilder:
        """Appends steps made by the typed constructors (``agent(...)``, ...)."""
        for step in steps:
            if not isinstance(step, Step):
                raise TypeError(f"add() takes steps from weftflow's constructors; use .step() for a dict, not {type(step).__name__}")
            self._workflow.steps.append(to_step(step.spec))
        return self

    def step(self, step: Union[Step, Mapping[str, Any]]) -> WorkflowBuilder:
        """Appends a step of any type, written as JSON (or a typed ``Step``)."""
        self._workflow.steps.append(to_step(step.spec if isinstance(step, Step) else step))
        return self

    def condition(self, step: Mapping[str, Any]) -> WorkflowBuilder:
        """Appends a condition step."""
        return self.step({**step, "type": "condition"})

    def transform(self, step: Mapping[str, Any]) -> WorkflowBuilder:
        """Appends a transform step (pure JSONPath reshaping, no agent)."""
        return self.step({**step, "type": "transform"})

    def build(self) -> workflow_pb2.Workflow:
        """The ``Workflow`` message for ``workflows.create`` or ``update`` (a copy)."""
        built = workflow_pb2.Workflow()
        built.CopyFrom(self._workflow)
        return built


def workflow(name: str) -> WorkflowBuilder:
    """Starts a workflow definition named ``name``."""
    return WorkflowBuilder(name)
