"""Linear SVMs along a whole regularization path (Tanay & Griffin 2016, "Example: SVM on MNIST").

For each lambda the objective is (setups.md 5.1: "L(w, b) = R + lambda ||w||^2")

    E(w, b) = lambda ||w||^2 + lambda (b / s)^2 + R(w, b),   R = sum_i hinge(y_i (w.x_i + b))  ("sum")
                                                                or its mean over the n examples ("mean")

with labels y in {-1, +1}. The small bias penalty (s = `bias_scale`, large) is liblinear's: divided by
2 lambda, E is liblinear's L1-loss SVM 0.5 ||u||^2 + C sum_i hinge(y_i u.[x_i, s]), u = [w, b / s],
C = 1 / (2 lambda) ("sum") or 1 / (2 lambda n) ("mean") -- scikit-learn's
LinearSVC(loss="hinge", C=C, intercept_scaling=s).

It is solved in the dual, max_{0 <= alpha <= C} sum(alpha) - 0.5 ||A^T alpha||^2 with A = y * [x, s] and
u = A^T alpha, by accelerated projected gradient (FISTA with adaptive restart) batched over a block of lambdas
(two matrix products per step for the whole block); the blocks run from the largest lambda down,
each warm-started from the previous block's solution, and each lambda stops when its relative
duality gap (P - D) / P is at most `tol`, which bounds its objective's relative excess over the optimum.
"""

from __future__ import annotations

import math

import torch

HINGES = ("sum", "mean")


def penalty_weight(lambdas: torch.Tensor, n: int, hinge: str) -> torch.Tensor:
    """liblinear's C for each lambda of the objective above."""
    if hinge not in HINGES:
        raise ValueError(f"unknown hinge reduction {hinge!r}; allowed: {', '.join(HINGES)}")
    return 1.0 / (2.0 * lambdas * (n if hinge == "mean" else 1))


def augment(x: torch.Tensor, y: torch.Tensor, bias_scale: float) -> torch.Tensor:
    """A = y * [x, s]: the rows of the dual problem (x flattened to (n, d))."""
    x = x.reshape(len(x), -1)
    return y.to(x.dtype)[:, None] * torch.cat([x, torch.full((len(x), 1), bias_scale, dtype=x.dtype,
                                                                 device=x.device)], 1)


def liblinear_objectives(u: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """0.5 ||u||^2 + C sum hinge(A u) for each row of u (L, d + 1)."""
    return 0.5 * (u * u).sum(1) + c * (1 - u @ a.T).clamp(min=0).sum(1)


def _lipschitz(a: torch.Tensor, iterations: int = 50) -> float:
    """||A||_2^2, the Lipschitz constant of the dual gradient, by power iteration (with 1% headroom)."""
    v = torch.ones(a.shape[1], dtype=a.dtype, device=a.device)
    for _ in range(iterations):
        v = a.T @ (a @ v)
        v = v / v.norm()
    return 1.01 * float((a @ v).norm() ** 2)


def solve_dual(a: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor, *, tol: float, max_iter: int,
               check_every: int = 10) -> dict:
    """FISTA with adaptive restart (O'Donoghue & Candes 2015) on the box-constrained dual of every
    lambda in `c` (L,) at once, from `alpha` (L, n); a lambda freezes when its relative duality gap is
    at most `tol`. Returns alpha, u = A^T alpha, the gap and the iterations per lambda."""
    step = 1.0 / _lipschitz(a)
    lanes = len(c)
    out_alpha = alpha.clone()
    out_u = torch.zeros(lanes, a.shape[1], dtype=a.dtype, device=a.device)
    gaps = torch.full((lanes,), math.inf, dtype=a.dtype, device=a.device)
    iterations = torch.zeros(lanes, dtype=torch.long)
    active = torch.arange(lanes, device=a.device)
    cap = c[:, None]
    alpha = alpha.clamp(min=0).minimum(cap)
    margins = (alpha @ a) @ a.T                      # A u for u = A^T alpha
    z_margins, z, t = margins, alpha, torch.ones(lanes, 1, dtype=a.dtype, device=a.device)
    for it in range(1, max_iter + 1):
        new = (z - step * (z_margins - 1)).clamp(min=0).minimum(cap)
        u = new @ a
        new_margins = u @ a.T
        restart = ((z - new) * (new - alpha)).sum(1, keepdim=True) > 0
        t_next = torch.where(restart, torch.ones_like(t), (1 + torch.sqrt(1 + 4 * t * t)) / 2)
        beta = torch.where(restart, torch.zeros_like(t), (t - 1) / t_next)
        z = new + beta * (new - alpha)
        z_margins = new_margins + beta * (new_margins - margins)
        alpha, margins, t = new, new_margins, t_next
        if it % check_every and it != max_iter:
            continue
        norm2 = (u * u).sum(1)
        primal = 0.5 * norm2 + cap[:, 0] * (1 - margins).clamp(min=0).sum(1)
        gap = (primal - (alpha.sum(1) - 0.5 * norm2)) / primal.abs().clamp(min=torch.finfo(a.dtype).tiny)
        done = (gap <= tol) | (it == max_iter)
        finished = active[done]
        out_alpha[finished], out_u[finished], gaps[finished] = alpha[done], u[done], gap[done]
        iterations[finished.cpu()] = it
        if done.all():
            break
        keep = ~done
        active, cap, alpha, margins, z, z_margins, t = (v[keep] for v in (active, cap, alpha, margins, z,
                                                                            z_margins, t))
    return {"alpha": out_alpha, "u": out_u, "gap": gaps, "iterations": iterations}


def path(x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor, *, hinge: str = "sum", bias_scale: float = 1.0,
         tol: float = 1e-4, max_iter: int = 20_000, block: int = 9) -> dict:
    """The SVM of the objective above for every lambda, in blocks of `block` lambdas from the largest
    down, each block warm-started from the previous one's smallest-lambda solution (alpha rescaled by
    the ratio of the C's and clipped to the new box).

    x (n, ...) in the units trained on, y in {-1, +1}. Returns w (L, d), b (L,), the objective E,
    the relative duality gap and the iterations per lambda, in the order of `lambdas`.
    """
    if not set(torch.unique(y).tolist()) <= {-1, 1}:
        raise ValueError("labels must be -1 or +1")
    a = augment(x, y, bias_scale)
    lambdas = lambdas.to(a)
    c = penalty_weight(lambdas, len(a), hinge)
    order = torch.argsort(lambdas, descending=True)
    u = torch.zeros(len(c), a.shape[1], dtype=a.dtype, device=a.device)
    gap = torch.zeros(len(c), dtype=a.dtype, device=a.device)
    iterations = torch.zeros(len(c), dtype=torch.long)
    start = c[order[0]].expand(len(a))  # every constraint active: the exact solution at large lambda
    for first in range(0, len(c), block):
        lanes = order[first:first + block]
        result = solve_dual(a, c[lanes], start.expand(len(lanes), -1), tol=tol, max_iter=max_iter)
        u[lanes], gap[lanes], iterations[lanes.cpu()] = result["u"], result["gap"], result["iterations"]
        if first + block < len(c):
            start = result["alpha"][-1] * (c[order[first + block]] / c[lanes[-1]])
    return {"w": u[:, :-1], "b": u[:, -1] * bias_scale, "objective": 2 * lambdas * liblinear_objectives(u, a, c),
            "gap": gap, "iterations": iterations, "c": c}


def pair_split(images: torch.Tensor, labels: torch.Tensor, pair: str, per_class: int | None = None):
    """Images (flattened) and labels -1 / +1 of the digits of `pair` "AvB" (A: -1), the first `per_class`
    of each class, the same number of each (balanced) when per_class is given."""
    first, second = (int(d) for d in pair.split("v"))
    a, b = images[labels == first], images[labels == second]
    if per_class is not None:
        a, b = a[:per_class], b[:per_class]
        a, b = a[:min(len(a), len(b))], b[:min(len(a), len(b))]
    x = torch.cat([a, b]).reshape(len(a) + len(b), -1)
    y = torch.cat([-torch.ones(len(a)), torch.ones(len(b))]).to(x)
    return x, y


def lambdas_of(alphas: dict) -> torch.Tensor:
    """lambda = 10^alpha for alpha from start to stop (inclusive) by step, in float64."""
    count = int(round((alphas["stop"] - alphas["start"]) / alphas["step"])) + 1
    return 10.0 ** (alphas["start"] + alphas["step"] * torch.arange(count, dtype=torch.float64))
