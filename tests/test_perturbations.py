import math

import pytest
import torch

from advrepro.perturbations import dual_norm, steepest_ascent

P_VALUES = [1, 1.5, 2, 3, math.inf]


def _lp(e: torch.Tensor, p: float) -> torch.Tensor:
    return torch.linalg.vector_norm(e.flatten(1), ord=p, dim=1)


def _gradients() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(6, 3, 5, 5, generator=gen, dtype=torch.float64)
    g[1] = 2.0  # all coordinates tied
    g[2] = 0.0
    g[2, 0, 1, 1], g[2, 1, 2, 2] = -4.0, 4.0  # a tie of two maximal coordinates with opposite signs
    g[3] = 0.0  # zero gradient
    return g


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("sigma", [0.3, 2.0])
def test_attains_dual_norm_on_the_sphere(p, sigma):
    g = _gradients()
    e = steepest_ascent(g, p, sigma)
    inner = (g * e).flatten(1).sum(1)
    nonzero = dual_norm(g, p) > 0
    torch.testing.assert_close(inner, sigma * dual_norm(g, p), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(_lp(e, p)[nonzero], torch.full((int(nonzero.sum()),), sigma, dtype=g.dtype))
    assert torch.all(e[~nonzero] == 0), "a zero gradient must give a zero step"


@pytest.mark.parametrize("p", P_VALUES)
def test_no_feasible_point_does_better(p):
    g = _gradients()[:1].expand(500, -1, -1, -1)
    best = (g[0] * steepest_ascent(g[:1], p, 1.0)[0]).sum()
    candidates = torch.randn(g.shape, generator=torch.Generator().manual_seed(1), dtype=g.dtype)
    candidates = candidates / _lp(candidates, p).view(-1, 1, 1, 1)
    assert ((g * candidates).flatten(1).sum(1) <= best + 1e-12).all()


def test_l1_step_changes_one_coordinate_and_resolves_ties_to_the_lowest_index():
    g = _gradients()
    e = steepest_ascent(g, 1, 0.5).flatten(1)
    assert ((e != 0).sum(1)[[0, 1, 2, 4, 5]] == 1).all()
    assert e[1, 0] == 0.5  # all tied: the first coordinate
    assert e[2].nonzero().item() == 0 * 25 + 1 * 5 + 1 and e[2].sum() == -0.5  # first of the tied pair, its sign


@pytest.mark.parametrize("p", P_VALUES)
def test_batched_equals_per_example(p):
    g = _gradients()
    batched = steepest_ascent(g, p, 0.7)
    single = torch.cat([steepest_ascent(g[i : i + 1], p, 0.7) for i in range(len(g))])
    torch.testing.assert_close(batched, single, rtol=0, atol=0)


def test_p_below_one_is_rejected():
    with pytest.raises(ValueError, match="p must be in"):
        steepest_ascent(torch.ones(1, 3), 0.5, 1.0)
