"""Sampling planners over a cost on action sequences: `cost(actions[S, H, A]) -> [S]`, within action bounds.

Planners know nothing of world models or envs; the agent builds the cost.
"""

from planners.cem import CEMConfig, cem
from planners.common import IterationRecord, PlanResult, shift_plan
from planners.mppi import MPPIConfig, mppi

__all__ = ["CEMConfig", "cem", "MPPIConfig", "mppi", "IterationRecord", "PlanResult", "shift_plan"]
