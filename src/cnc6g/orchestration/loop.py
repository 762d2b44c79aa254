"""The slow loop of the E2E orchestrator: observe, decide, check, step, feedback, once per slot.

Every front end runs a policy on the twin through this one loop: a run and a sweep
(:func:`cnc6g.experiments.run_policy`), the adaptation experiment (events in the middle of a
run), the conformance checks (:func:`cnc6g.testing.check_policy`) and the control plane. Per slot:

1. the events due at the slot are applied to the twin (:meth:`cnc6g.twin.Twin.apply`) and the
   policy is told the new system (:meth:`cnc6g.policies.Policy.system_changed`);
2. the policy decides on the twin's observation (timed);
3. what the decision puts on failed nodes is dropped (a failed node runs nothing);
4. the decision is checked (:func:`~cnc6g.policies.feasibility_problems`);
5. the twin steps and the policy gets the outcome (:meth:`cnc6g.policies.Policy.feedback`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy, feasibility_problems
from cnc6g.twin import SlotOutcome, Twin
from cnc6g.twin.events import TwinEvent
from cnc6g.twin.system import IntArray, System


class InfeasibleDecisionError(RuntimeError):
    """A policy returned something that is not a feasible decision; ``problems`` says why."""

    def __init__(self, policy: str, slot: int, problems: list[str]) -> None:
        self.policy, self.slot, self.problems = policy, slot, problems
        super().__init__(f"{policy} slot {slot}: " + "; ".join(problems[:3]))


@dataclass(frozen=True, eq=False)
class SlotRecord:
    """What happened in one slot of the loop.

    Attributes:
        slot: the slot's index.
        observation: what the policy saw.
        decision: what was applied (after dropping what went to failed nodes).
        outcome: the twin's outcome (batch size 1).
        demand: the requests of the slot, ``[O, S]``.
        decide_s: wall time of the policy's ``decide``, s.
        info: the policy's :meth:`~cnc6g.policies.Policy.info` after deciding.
        repaired: whether the decision put anything on a failed node.
    """

    slot: int
    observation: Observation
    decision: Decision
    outcome: SlotOutcome
    demand: IntArray
    decide_s: float
    info: dict[str, float]
    repaired: bool


class SlotLoop:
    """A policy orchestrating one copy of the twin, slot by slot.

    Args:
        twin: the twin (batch size 1), at the slot the loop starts from.
        policy: the policy; it is reset here for the twin's system with ``seed``.
        seed: seed of the policy.
        check: raise :class:`InfeasibleDecisionError` on an infeasible decision.
        events: ``(slot, event)`` pairs: each event is applied at the start of its slot.
        adjust: changes each decision before it is checked (the control plane keeps the
            instances operators asked for); it gets the twin's system and the decision.
    """

    def __init__(
        self,
        twin: Twin,
        policy: Policy,
        seed: int | None = None,
        *,
        check: bool = True,
        events: Iterable[tuple[int, TwinEvent]] = (),
        adjust: Callable[[System, Decision], Decision] | None = None,
    ) -> None:
        if twin.batch != 1:
            raise ValueError(f"the loop runs one copy of the twin, not {twin.batch}")
        self.twin = twin
        self.policy = policy
        self.check = check
        self.adjust = adjust
        self._events = sorted(events, key=lambda e: e[0])
        policy.reset(twin.system, seed)

    def observe(self) -> Observation:
        """Apply the events due at the current slot; what the policy sees now."""
        while self._events and self._events[0][0] <= self.twin.slot:
            _, event = self._events.pop(0)
            self.policy.system_changed(self.twin.apply(event))
        return self.twin.observe()

    def advance(self, obs: Observation) -> SlotRecord:
        """Let the policy decide on ``obs`` (from :meth:`observe`), check and apply the decision.

        Raises:
            InfeasibleDecisionError: ``decide`` returned no :class:`Decision`, or, with
                ``check``, an infeasible one. The twin has not stepped.
        """
        policy, twin = self.policy, self.twin
        start = time.perf_counter()
        decision = policy.decide(obs)
        decide_s = time.perf_counter() - start
        info = policy.info()
        if not isinstance(decision, Decision):
            problem = f"decide() returned {type(decision).__name__}, not Decision"
            raise InfeasibleDecisionError(policy.name, obs.slot, [problem])
        if self.adjust is not None:
            decision = self.adjust(twin.system, decision)
        decision, repaired = twin.repair(decision)
        if self.check:
            problems = feasibility_problems(twin.system, decision)
            if problems:
                raise InfeasibleDecisionError(policy.name, obs.slot, problems)
        demand = twin.demand[0].copy()
        outcome = twin.step(decision)
        policy.feedback(obs, decision, outcome)
        return SlotRecord(obs.slot, obs, decision, outcome, demand, decide_s, info, repaired)

    def step(self) -> SlotRecord:
        """One slot: :meth:`observe`, then :meth:`advance`."""
        return self.advance(self.observe())

    def run(self, slots: int) -> Iterator[SlotRecord]:
        """The records of the next ``slots`` slots, one as each is done."""
        for _ in range(slots):
            yield self.step()
