"""CEM and MPPI find known optima of analytic costs, stay in bounds, and plan reproducibly."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from planners import CEMConfig, MPPIConfig, cem, mppi, shift_plan

PLANNERS = {
    "cem": lambda cost, h, lo, hi, seed, **kw: cem(
        cost, h, lo, hi, cfg=CEMConfig(**{"samples": 256, "iterations": 12, "elites": 24, **kw}), generator=torch.Generator().manual_seed(seed)
    ),
    "mppi": lambda cost, h, lo, hi, seed, **kw: mppi(
        cost, h, lo, hi, cfg=MPPIConfig(**{"samples": 256, "iterations": 12, "elites": 48, **kw}), generator=torch.Generator().manual_seed(seed)
    ),
}
LO, HI = -torch.ones(3), torch.ones(3)


def bowl(center):
    return lambda a: ((a - center) ** 2).sum(dim=(1, 2))  # a: [S, H, A]


@pytest.mark.parametrize("name", PLANNERS)
def test_finds_the_bottom_of_a_quadratic_bowl(name):
    center = torch.tensor([[0.3, -0.5, 0.7], [-0.2, 0.1, 0.4]])  # [H=2, A=3]
    res = PLANNERS[name](bowl(center), 2, LO, HI, 0)
    assert torch.allclose(res.actions, center, atol=0.03), res.actions
    assert res.cost < 2e-3 and len(res.iterations) == 12


@pytest.mark.parametrize("name", PLANNERS)
def test_an_optimum_outside_the_bounds_is_met_at_the_bound(name):
    res = PLANNERS[name](bowl(torch.tensor([[2.0, -3.0, 0.0]])), 1, LO, HI, 1)
    assert torch.allclose(res.actions, torch.tensor([[1.0, -1.0, 0.0]]), atol=0.03)
    for rec in res.iterations:
        assert rec.elites.min() >= -1 and rec.elites.max() <= 1


@pytest.mark.parametrize("name", PLANNERS)
def test_prefers_the_deeper_of_two_basins(name):
    deep, shallow = torch.tensor([0.6, 0.6, 0.0]), torch.tensor([-0.6, -0.6, 0.0])

    def two_basins(a):  # [S, 1, 3] -> [S]
        x = a[:, 0]
        return torch.minimum(((x - deep) ** 2).sum(-1), ((x - shallow) ** 2).sum(-1) + 0.3)

    hits = sum(torch.allclose(PLANNERS[name](two_basins, 1, LO, HI, s).actions[0], deep, atol=0.05) for s in range(5))
    assert hits >= 4


@pytest.mark.parametrize("name", PLANNERS)
def test_follows_a_narrow_curved_valley(name):
    def valley(a):  # a Rosenbrock valley in the first two dims, minimum at (0.8, 0.64)
        x, y, z = a[:, 0, 0], a[:, 0, 1], a[:, 0, 2]
        return (0.8 - x) ** 2 + 20 * (y - x**2) ** 2 + z**2

    # a curved valley needs the std to shrink slowly: momentum on it (CEM) or a higher temperature (MPPI)
    knobs = {"momentum_std": 0.6, "iterations": 30} if name == "cem" else {"temperature": 1.0, "iterations": 30}
    res = PLANNERS[name](valley, 1, LO, HI, 2, **knobs)
    assert torch.allclose(res.actions[0, :2], torch.tensor([0.8, 0.64]), atol=0.08), res.actions
    assert res.cost < 5e-3


@pytest.mark.parametrize("name", PLANNERS)
def test_same_generator_seed_same_plan(name):
    c = bowl(torch.full((4, 3), 0.37))  # not the initial mean, or every seed would return it exactly
    a, b, other = (PLANNERS[name](c, 4, LO, HI, s).actions for s in (5, 5, 6))
    assert torch.equal(a, b) and not torch.equal(a, other)


@pytest.mark.parametrize("name", PLANNERS)
def test_nan_costs_are_never_chosen(name):
    def half_nan(a):
        c = ((a - 0.5) ** 2).sum(dim=(1, 2))
        return torch.where(a[:, 0, 0] > 0.55, torch.full_like(c, float("nan")), c)

    res = PLANNERS[name](half_nan, 1, LO, HI, 0)
    assert res.actions[0, 0] <= 0.55 and res.cost == pytest.approx(float(half_nan(res.actions[None])[0]))


def test_a_cost_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"must return shape \[256\]"):
        cem(lambda a: a.sum(-1), 2, LO, HI)


def test_warm_start_shifts_the_plan():
    plan = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(shift_plan(plan), torch.tensor([[2.0, 3.0], [4.0, 5.0], [4.0, 5.0]]))
    assert torch.equal(shift_plan(plan, torch.zeros(2))[-1], torch.zeros(2))


@settings(max_examples=25, deadline=None)
@given(
    low=st.lists(st.floats(-5, 0.9), min_size=2, max_size=2),
    width=st.lists(st.floats(0.1, 5), min_size=2, max_size=2),
    target=st.lists(st.floats(-10, 10), min_size=2, max_size=2),
    planner=st.sampled_from(sorted(PLANNERS)),
)
def test_every_sample_and_the_plan_stay_inside_any_bounds(low, width, target, planner):
    lo = torch.tensor(low)
    hi = lo + torch.tensor(width)
    t = torch.tensor(target)
    fn = cem if planner == "cem" else mppi
    cfg = (CEMConfig if planner == "cem" else MPPIConfig)(samples=32, iterations=3, elites=8, keep_samples=True)
    res = fn(lambda a: ((a - t) ** 2).sum(dim=(1, 2)), 2, lo, hi, cfg=cfg, generator=torch.Generator().manual_seed(0))
    for rec in res.iterations:
        assert torch.all(rec.samples >= lo) and torch.all(rec.samples <= hi)
    assert torch.all(res.actions >= lo) and torch.all(res.actions <= hi)
