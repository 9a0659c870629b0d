"""Linear SVMs along a whole regularization path (Tanay & Griffin 2016, "Example: SVM on MNIST").

For each lambda the objective is (setups.md 5.1: "L(w, b) = R + lambda ||w||^2")

    E(w, b) = lambda ||w||^2 + lambda (b / s)^2 + R(w, b),   R = sum_i hinge(y_i (w.x_i + b))  ("sum")
                                                                or its mean over the n examples ("mean")

with labels y in {-1, +1}. The small bias penalty (s = `bias_scale`, large) is liblinear's: divided by
2 lambda, E is liblinear's L1-loss SVM 0.5 ||u||^2 + C sum_i hinge(y_i u.[x_i, s]), u = [w, b / s],
C = 1 / (2 lambda) ("sum") or 1 / (2 lambda n) ("mean") -- scikit-learn's
LinearSVC(loss="hinge", C=C, intercept_scaling=s).

It is solved in the dual, max_{0 <= alpha <= C} D(alpha) = sum(alpha) - 0.5 ||A^T alpha||^2 with
A = y * [x, s] and u = A^T alpha, one lambda after another from the largest down. Each lambda starts from
the previous solution, kept or rescaled by the ratio of the C's (whichever has the higher D), and
alternates two steps until its relative duality gap (P - D) / P is at most `tol`, which bounds its
objective's relative excess over the optimum:

- an epoch of dual coordinate descent in random order (Hsieh et al. 2008, liblinear's solver);
- an active-set refinement: alpha's partition into alpha = 0, free and alpha = C fixes the free alphas by
  one linear system (free points lie exactly on the margin, y u.a = 1), and the primal-dual active-set
  rule (Hintermueller, Ito & Kunisch 2003) moves the points that break the partition and solves again
  while the moves become fewer. The best refinement replaces alpha only if it raises D.

D never falls, so coordinate descent alone guarantees convergence; the refinement lands on the exact
solution once the partition is right, where coordinate descent would need hundreds of epochs (the
free points are few: at most the dimension). The solver runs on one CPU thread (the epochs compiled by
numba) whatever the device of the inputs: one pair's path is a small CPU job. (A first-order method
batched over the lambdas in torch, which a GPU could run, was 50x slower than liblinear on the CPU and
stalled at small lambda.)
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import scipy.linalg
import scipy.sparse
import threadpoolctl
import torch

HINGES = ("sum", "mean")
AT_ZERO, FREE, AT_C = 0, 1, 2


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


class _Rows:
    """The dual's rows A = y * [x, s] (n, d + 1) without the columns that are zero in every row (pixels
    blank in every image: u stays zero there): dense for row access, CSR for products with all rows
    (pixel rows are mostly zero), and their squared norms, the dual's diagonal."""

    def __init__(self, a: np.ndarray):
        self.columns = np.flatnonzero(np.any(a != 0.0, axis=0))
        self.dense = np.ascontiguousarray(a[:, self.columns])
        self.csr, self.diagonal = scipy.sparse.csr_array(self.dense), np.einsum("ij,ij->i", self.dense, self.dense)

    def margins(self, u: np.ndarray) -> np.ndarray:
        """A u."""
        return self.csr @ u

    def combine(self, alpha: np.ndarray) -> np.ndarray:
        """A^T alpha."""
        return self.csr.T @ alpha


@numba.njit(fastmath=True, cache=True)
def _coordinate_epoch(a, diagonal, alpha, u, c, order):  # pragma: no cover - compiled
    """One pass of dual coordinate descent (Hsieh et al. 2008, Algorithm 1): each alpha_i in `order`
    minimizes the dual exactly over [0, C] with the others fixed; u = A^T alpha is kept in step."""
    for i in order:
        gradient = -1.0
        for k in range(a.shape[1]):
            gradient += a[i, k] * u[k]
        new = min(max(alpha[i] - gradient / diagonal[i], 0.0), c)
        delta = new - alpha[i]
        if delta != 0.0:
            alpha[i] = new
            for k in range(a.shape[1]):
                u[k] += delta * a[i, k]


def _dual(alpha: np.ndarray, u: np.ndarray) -> float:
    """D(alpha) at u = A^T alpha."""
    return float(alpha.sum()) - 0.5 * float(u @ u)


def _gap_and_dual(rows: _Rows, alpha: np.ndarray, u: np.ndarray, c: float, margins=None) -> tuple[float, float]:
    """The relative duality gap (P - D) / P at (alpha, u = A^T alpha), and D (margins: A u, if known)."""
    margins = rows.margins(u) if margins is None else margins
    primal = 0.5 * float(u @ u) + c * float(np.maximum(1.0 - margins, 0.0).sum())
    dual = _dual(alpha, u)
    return (primal - dual) / max(abs(primal), np.finfo(float).tiny), dual


def _solve_gram(block: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """x with (block block^T) x = rhs by Cholesky, from the upper triangle alone (BLAS syrk on block^T,
    Fortran-ordered as it lies)."""
    if len(block) == 0:
        return rhs
    factor = scipy.linalg.cho_factor(scipy.linalg.blas.dsyrk(1.0, block.T, trans=1), check_finite=False)
    return scipy.linalg.cho_solve(factor, rhs, check_finite=False)


class _Candidate(NamedTuple):
    """A feasible dual point with u = A^T alpha, its relative duality gap and its D."""
    alpha: np.ndarray
    u: np.ndarray
    gap: float | None  # None until computed (it needs A u)
    dual: float


def _refine(rows: _Rows, alpha: np.ndarray, u: np.ndarray, c: float, *, tol: float, max_solves: int):
    """The active-set refinement above, from alpha's partition: the clipped partition solution of
    highest D, from the first solve whose gap is at most tol or else the last;
    None when no system was solved (max_solves 0, or a singular system)."""
    a, dim = rows.dense, len(rows.columns)
    state = np.where(alpha <= 0.0, AT_ZERO, np.where(alpha >= c, AT_C, FREE))
    free = np.flatnonzero(state == FREE)
    if len(free) < dim:
        u_at_c = u - alpha[free] @ a[free]  # the part of u = A^T alpha from the alphas at C
    else:  # more free points than dimensions: those nearest the margin stay free, the others go to
        gradient = a[free] @ u - 1.0  # the bound their gradient points to
        beyond = np.argsort(np.abs(gradient))[dim - 1:]
        state[free[beyond]] = np.where(gradient[beyond] > 0.0, AT_ZERO, AT_C)
        u_at_c = c * rows.combine((state == AT_C).astype(float))
    best, last_moves = None, np.inf
    for _ in range(max_solves):
        free = np.flatnonzero(state == FREE)
        block = a[free]
        try:
            exact = _solve_gram(block, 1.0 - block @ u_at_c)
        except np.linalg.LinAlgError:
            break
        clipped = np.clip(exact, 0.0, c)
        candidate = np.where(state == AT_C, c, 0.0)
        candidate[free] = clipped
        u, u_exact = u_at_c + clipped @ block, u_at_c + exact @ block
        margins = rows.margins(u_exact)
        dual = _dual(candidate, u)
        if best is None or dual > best.dual:
            # the gap needs A u: known when nothing was clipped, else left for the end
            gap = _gap_and_dual(rows, candidate, u, c, margins)[0] if np.array_equal(clipped, exact) else None
            best = _Candidate(candidate, u, gap, dual)
            if gap is not None and gap <= tol:
                break
        moved = state.copy()  # the primal-dual active-set rule, with the gradient margins - 1 at the unclipped solution
        moved[free[exact < 0.0]] = AT_ZERO
        moved[free[exact > c]] = AT_C
        moved[(state == AT_ZERO) & (margins < 1.0)] = FREE
        moved[(state == AT_C) & (margins > 1.0)] = FREE
        changed = np.flatnonzero(moved != state)
        if len(changed) == 0 or len(changed) >= last_moves or len(changed) > len(free) or (moved == FREE).sum() >= dim:
            break  # converged, too far from the solution to converge soon, or more free points than dimensions
        sign = (moved[changed] == AT_C).astype(float) - (state[changed] == AT_C)
        u_at_c = u_at_c + c * (sign @ a[changed])
        state, last_moves = moved, len(changed)
    if best is not None and best.gap is None:
        best = best._replace(gap=_gap_and_dual(rows, best.alpha, best.u, c)[0])
    return best


def _solve(rows: _Rows, alpha, u, c, *, tol, max_epochs, refine_solves, rng):
    """One lambda from a feasible alpha and u = A^T alpha (both changed in place): coordinate-descent
    epochs, and refinements after epochs 0, 1, 3, 7, ..., until the relative gap is at most tol.
    Returns alpha, u, the gap and the epochs run."""
    for epochs in range(max_epochs + 1):
        gap, dual = _gap_and_dual(rows, alpha, u, c)
        if gap <= tol:
            break
        refined = _refine(rows, alpha, u, c, tol=tol, max_solves=refine_solves) if epochs & (epochs + 1) == 0 else None
        if refined is not None and refined.dual > dual:
            alpha, u, gap, _ = refined
            if gap <= tol:
                break
        if epochs == max_epochs:
            break
        _coordinate_epoch(rows.dense, rows.diagonal, alpha, u, c, rng.permutation(len(alpha)))
    return alpha, u, gap, epochs


def path(x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor, *, hinge: str = "sum", bias_scale: float = 1.0,
         tol: float = 1e-4, max_epochs: int = 10_000, refine_solves: int = 8, seed: int = 0) -> dict:
    """The SVM of the objective above for every lambda, warm-started from the largest lambda down (see
    the module docstring); at most `max_epochs` coordinate-descent epochs per lambda.

    x (n, ...) in the units trained on, y in {-1, +1}. Returns w (L, d), b (L,), the objective E,
    the relative duality gap and the epochs per lambda, in the order of `lambdas`, as float64 tensors on
    the device of x.
    """
    if not set(torch.unique(y).tolist()) <= {-1, 1}:
        raise ValueError("labels must be -1 or +1")
    a = augment(x.double(), y, bias_scale)
    lambdas = lambdas.to(a)
    c = penalty_weight(lambdas, len(a), hinge)
    rows, rng = _Rows(a.cpu().numpy()), np.random.default_rng(seed)
    u = np.zeros((len(c), a.shape[1]))
    gap, epochs = np.zeros(len(c)), np.zeros(len(c), dtype=np.int64)
    alpha = None
    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # small products: one thread is faster
        for k in torch.argsort(lambdas, descending=True).tolist():
            ck = float(c[k])
            if alpha is None:  # zero, or every point inside the margin (exact at large lambda): the higher D
                alpha = np.full(len(a), ck)
                u_k = rows.combine(alpha)
                if _dual(alpha, u_k) < 0.0:
                    alpha, u_k = np.zeros(len(a)), np.zeros(len(rows.columns))
            else:  # kept, or rescaled by the ratio r of the C's: D(r alpha) = r sum(alpha) - r^2 ||u||^2 / 2
                ratio, total, norm2 = ck / previous_c, float(alpha.sum()), float(u_k @ u_k)
                if ratio * total - 0.5 * ratio ** 2 * norm2 > total - 0.5 * norm2:
                    alpha, u_k = ratio * alpha, ratio * u_k
            alpha, u_k, gap[k], epochs[k] = _solve(rows, alpha, u_k, ck, tol=tol, max_epochs=max_epochs,
                                                   refine_solves=refine_solves, rng=rng)
            u[k, rows.columns], previous_c = u_k, ck
    u = torch.from_numpy(u).to(a.device)
    return {"w": u[:, :-1], "b": u[:, -1] * bias_scale, "objective": 2 * lambdas * liblinear_objectives(u, a, c),
            "gap": torch.from_numpy(gap).to(a.device), "epochs": torch.from_numpy(epochs).to(a.device), "c": c}


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
