"""Linear SVMs along a whole regularization path (Tanay & Griffin 2016, "Example: SVM on MNIST").

For each lambda the objective is (setups.md 5.1: "L(w, b) = R + lambda ||w||^2")

    E(w, b) = lambda ||w||^2 + R(w, b),   R = sum_i hinge(y_i (w.x_i + b))  ("sum")
                                           or its mean over the n examples  ("mean")

with labels y in {-1, +1} and the bias b free (not penalized). Divided by 2 lambda, E is the C-SVM
0.5 ||w||^2 + C sum_i hinge(y_i (w.x_i + b)) of libsvm with a linear kernel, C = 1 / (2 lambda) ("sum")
or 1 / (2 lambda n) ("mean") -- scikit-learn's SVC(kernel="linear", C=C).

It is solved in the dual, max D(alpha) = sum(alpha) - 0.5 ||A^T alpha||^2 over 0 <= alpha <= C with
y^T alpha = 0 (the free bias), A = y * x and w = A^T alpha, one lambda after another from the largest
down. Each lambda starts from the previous solution, kept or rescaled by the ratio of the C's (whichever
has the higher D), and runs epochs of coordinate descent until its relative duality gap (P - D) / P is
at most `tol`, which bounds its objective's relative excess over the optimum; an active-set refinement
comes first and after every epoch that leaves more than half of the gap:

- an epoch of pairwise dual coordinate descent: pairs (i, j) that violate the optimality conditions,
  most violating first, matched in one sort of the gradients at the epoch's start (libsvm's working
  sets, Fan, Chen & Lin 2005), each maximizing D exactly on the line through alpha that keeps
  y^T alpha = 0 (SMO's step, Platt 1998; liblinear's single coordinates, Hsieh et al. 2008, would break
  the constraint);
- an active-set refinement: alpha's partition into alpha = 0, free and alpha = C fixes the free alphas and
  b by one linear system (free points lie exactly on the margin, y (w.x + b) = 1, and y^T alpha = 0), and
  the primal-dual active-set rule (Hintermueller, Ito & Kunisch 2003) moves the points that break the
  partition and solves again while the moves become fewer. The best refinement (clipped to the box and,
  where that breaks y^T alpha = 0, its heavier class scaled down) replaces alpha only if it raises D.

D never falls and every epoch steps on the most violating pair, so coordinate descent alone converges
(as SMO does, Keerthi & Gilbert 2002); the refinement lands on the exact solution once the partition is
right, where coordinate descent would need many epochs (the free points are few: about the dimension at
most). The solver runs on one CPU thread (the epochs compiled by numba) whatever the device of the
inputs: one pair's path is a small CPU job.

The bias. For the solved w, the biases that minimize E form an interval (P below is E's minimum over
it); b is its midpoint. Where one bias is optimal that is it; where every point lies inside the margin
(large lambda, balanced classes: R does not depend on b) it puts the boundary midway between the
farthest point of each class along w -- libsvm's rule when no alpha is free (Chang & Lin 2011, section
4.1.5), and the authors' (config/papers/tanay2016.yaml).
"""

from __future__ import annotations

import warnings
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
    """libsvm's C for each lambda of the objective above."""
    if hinge not in HINGES:
        raise ValueError(f"unknown hinge reduction {hinge!r}; allowed: {', '.join(HINGES)}")
    return 1.0 / (2.0 * lambdas * (n if hinge == "mean" else 1))


def objectives(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor,
               hinge: str) -> torch.Tensor:
    """E(w, b) above for each row of w (L, d) with its bias b (L,); x (n, d)."""
    losses = (1 - y[:, None] * (x @ w.T + b)).clamp(min=0)
    return lambdas * (w * w).sum(1) + (losses.mean(0) if hinge == "mean" else losses.sum(0))


def optimal_bias(scores: np.ndarray, y: np.ndarray) -> float:
    """The midpoint of the biases b that minimize sum_i hinge(y_i (scores_i + b)).

    The sum is convex and piecewise linear in b: a positive example's hinge stops at b = 1 - score, a
    negative one's starts at b = -1 - score, so its slope just above the k-th smallest of these n
    thresholds is k - (number of positives), and its minimizers are the interval between the
    (number of positives)-th and the next threshold."""
    thresholds = np.where(y > 0, 1.0, -1.0) - scores
    positives = int((y > 0).sum())
    if positives in (0, len(y)):
        raise ValueError("both classes are needed to place the bias")
    low, high = np.partition(thresholds, (positives - 1, positives))[positives - 1:positives + 1]
    return 0.5 * (low + high)


class _Rows:
    """The dual's rows A = y * x (n, d) without the columns that are zero in every row (pixels blank in
    every image: w stays zero there): dense for row access, CSR for products with all rows (pixel rows
    are mostly zero; A and A^T), their squared norms, and the labels y."""

    def __init__(self, a: np.ndarray, y: np.ndarray):
        self.columns = np.flatnonzero(np.any(a != 0.0, axis=0))
        self.dense = np.ascontiguousarray(a[:, self.columns])
        self.csr, self.diagonal = scipy.sparse.csr_array(self.dense), np.einsum("ij,ij->i", self.dense, self.dense)
        self.csr_transposed = self.csr.T.tocsr()
        self.y = np.ascontiguousarray(y, dtype=float)

    def margins(self, u: np.ndarray) -> np.ndarray:
        """A u = y (w.x) at w = u."""
        return self.csr @ u

    def combine(self, alpha: np.ndarray) -> np.ndarray:
        """A^T alpha."""
        return self.csr_transposed @ alpha


@numba.njit(fastmath=True, cache=True)
def _pair_epoch(a, diagonal, y, alpha, u, c, order, partner):  # pragma: no cover - compiled
    """One pass of pairwise dual coordinate descent: alpha_i (i in `order`) and alpha_j (j its `partner`)
    move along alpha_i += t, alpha_j -= y_i y_j t, which keeps y^T alpha, to the maximum of the dual on
    that line within [0, C]^2; u = A^T alpha is kept in step."""
    for k in range(len(order)):
        i, j = order[k], partner[k]
        if i == j:
            continue
        s = y[i] * y[j]
        gradient_i, gradient_j, cross = 1.0, 1.0, 0.0
        for m in range(a.shape[1]):
            gradient_i -= a[i, m] * u[m]
            gradient_j -= a[j, m] * u[m]
            cross += a[i, m] * a[j, m]
        curvature = diagonal[i] + diagonal[j] - 2.0 * s * cross
        if curvature <= 0.0:
            continue
        step = (gradient_i - s * gradient_j) / curvature
        low, high = -alpha[i], c - alpha[i]  # alpha_i + t in [0, C] and alpha_j - s t in [0, C]
        if s > 0:
            low, high = max(low, alpha[j] - c), min(high, alpha[j])
        else:
            low, high = max(low, -alpha[j]), min(high, c - alpha[j])
        step = min(max(step, low), high)
        if step != 0.0:
            alpha[i] += step
            alpha[j] -= s * step
            for m in range(a.shape[1]):
                u[m] += step * (a[i, m] - s * a[j, m])


def _violating_pairs(rows: _Rows, alpha: np.ndarray, c: float, margins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) whose step raises D, most violating first (libsvm's working sets, Fan, Chen & Lin
    2005, matched in one sort): i may move y_i alpha_i up and j y_j alpha_j down, and
    y_i - w.x_i > y_j - w.x_j, from the gradients at alpha."""
    y, score = rows.y, rows.y - rows.y * margins
    up = np.flatnonzero(np.where(y > 0, alpha < c, alpha > 0))
    low = np.flatnonzero(np.where(y > 0, alpha > 0, alpha < c))
    up, low = up[np.argsort(-score[up], kind="stable")], low[np.argsort(score[low], kind="stable")]
    count = min(len(up), len(low))
    violating = int(np.sum(score[up[:count]] > score[low[:count]]))
    return up[:violating], low[:violating]


def _dual(alpha: np.ndarray, u: np.ndarray) -> float:
    """D(alpha) at u = A^T alpha."""
    return float(alpha.sum()) - 0.5 * float(u @ u)


def _bias(rows: _Rows, margins: np.ndarray) -> float:
    """The optimal bias's midpoint (optimal_bias) for w = u, from the margins A u = y (w.x)."""
    return optimal_bias(rows.y * margins, rows.y)


class _Certificate(NamedTuple):
    """At a feasible (alpha, u = A^T alpha): the relative duality gap (P - D) / P, P at the optimal bias
    for w = u, D, and that bias."""
    gap: float
    primal: float
    dual: float
    bias: float


def _certify(rows: _Rows, alpha: np.ndarray, u: np.ndarray, c: float, margins=None) -> _Certificate:
    """The certificate of (alpha, u) (margins: A u, if known)."""
    margins = rows.margins(u) if margins is None else margins
    bias = _bias(rows, margins)
    primal = 0.5 * float(u @ u) + c * float(np.maximum(1.0 - margins - rows.y * bias, 0.0).sum())
    dual = _dual(alpha, u)
    return _Certificate((primal - dual) / max(abs(primal), np.finfo(float).tiny), primal, dual, bias)


def _balance(rows: _Rows, alpha: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """alpha made feasible for y^T alpha = 0 by scaling down the class with the larger sum of alpha
    (within the box still), and its u."""
    heavier = rows.y > 0 if rows.y @ alpha > 0 else rows.y < 0
    total = alpha[heavier].sum()
    if total == 0.0:
        return alpha, u
    shrink = 1.0 - alpha[~heavier].sum() / total
    part = np.where(heavier, alpha, 0.0)
    return alpha - shrink * part, u - shrink * rows.combine(part)


def _solve_gram(block: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """x with (block block^T) x = rhs by Cholesky, from the upper triangle alone (BLAS syrk on block^T,
    Fortran-ordered as it lies)."""
    if len(block) == 0:
        return rhs
    factor = scipy.linalg.cho_factor(scipy.linalg.blas.dsyrk(1.0, block.T, trans=1), check_finite=False)
    return scipy.linalg.cho_solve(factor, rhs, check_finite=False)


class _Candidate(NamedTuple):
    """A feasible dual point with u = A^T alpha, its D and its certificate."""
    alpha: np.ndarray
    u: np.ndarray
    dual: float
    certificate: _Certificate | None  # None until computed (it needs A u)


def _partition_solution(rows: _Rows, state: np.ndarray, free: np.ndarray, u_at_c: np.ndarray, c: float):
    """The free alphas and the bias that put every free point on the margin, y (w.x + b) = 1 with
    w = A^T alpha, with y^T alpha = 0; the bias is None when no alpha is free. By the Schur complement
    of the system's bordered Gram matrix [[G, y_F], [y_F^T, 0]]: alpha_F = G^-1 (r - b y_F),
    G = A_F A_F^T, r = 1 - A_F u_C; where G is singular (one free point more than dimensions, which the
    bias allows), by the bordered system itself."""
    block, y_free = rows.dense[free], rows.y[free]
    if len(free) == 0:
        return np.zeros(0), None
    residual, at_c = 1.0 - block @ u_at_c, c * rows.y[state == AT_C].sum()
    if len(free) > block.shape[1]:
        bordered = np.block([[block @ block.T, y_free[:, None]], [y_free[None], np.zeros((1, 1))]])
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            try:
                solved = scipy.linalg.solve(bordered, np.r_[residual, -at_c], assume_a="sym", check_finite=False)
            except scipy.linalg.LinAlgWarning as singular:
                raise np.linalg.LinAlgError(str(singular)) from singular
        return solved[:-1], solved[-1]
    solved = _solve_gram(block, np.stack([residual, y_free], 1))
    bias = (y_free @ solved[:, 0] + at_c) / (y_free @ solved[:, 1])
    return solved[:, 0] - bias * solved[:, 1], bias


def _refine(rows: _Rows, alpha: np.ndarray, u: np.ndarray, c: float, *, tol: float, max_solves: int):
    """The active-set refinement above, from alpha's partition: the clipped (and balanced) partition
    solution of highest D, from the first solve whose gap is at most tol or else the last;
    None when no system was solved (max_solves 0, or a singular system)."""
    a, y, dim = rows.dense, rows.y, len(rows.columns)
    state = np.where(alpha <= 0.0, AT_ZERO, np.where(alpha >= c, AT_C, FREE))
    free = np.flatnonzero(state == FREE)
    if len(free) <= dim + 1:
        u_at_c = u - alpha[free] @ a[free]  # the part of u = A^T alpha from the alphas at C
    else:  # more free points than dimensions + 1: those nearest the margin stay free, the others go to
        margins = a[free] @ u  # the bound their gradient (at the optimal bias) points to
        gradient = margins + y[free] * _bias(rows, rows.margins(u)) - 1.0
        beyond = np.argsort(np.abs(gradient))[dim + 1:]
        state[free[beyond]] = np.where(gradient[beyond] > 0.0, AT_ZERO, AT_C)
        u_at_c = c * rows.combine((state == AT_C).astype(float))
    best, last_moves = None, np.inf
    for _ in range(max_solves):
        free = np.flatnonzero(state == FREE)
        try:
            exact, bias = _partition_solution(rows, state, free, u_at_c, c)
        except np.linalg.LinAlgError:
            break
        clipped = np.clip(exact, 0.0, c)
        candidate = np.where(state == AT_C, c, 0.0)
        candidate[free] = clipped
        u, u_exact = u_at_c + clipped @ a[free], u_at_c + exact @ a[free]
        feasible = np.array_equal(clipped, exact) and bias is not None
        dual = _dual(candidate, u)
        if not feasible and (best is None or dual > best.dual):  # balancing lowers D: only for a contender
            candidate, u = _balance(rows, candidate, u)
            dual = _dual(candidate, u)
        margins = rows.margins(u_exact)
        if best is None or dual > best.dual:
            # the certificate needs A u: known when nothing was clipped, else left for the end
            best = _Candidate(candidate, u, dual, _certify(rows, candidate, u, c, margins) if feasible else None)
            if feasible and best.certificate.gap <= tol:
                break
        # the primal-dual active-set rule, with the gradient y (w.x + b) - 1 at the unclipped solution
        signed = margins + y * (_bias(rows, margins) if bias is None else bias)
        moved = state.copy()
        moved[free[exact < 0.0]] = AT_ZERO
        moved[free[exact > c]] = AT_C
        moved[(state == AT_ZERO) & (signed < 1.0)] = FREE
        moved[(state == AT_C) & (signed > 1.0)] = FREE
        changed = np.flatnonzero(moved != state)
        if len(changed) == 0 or len(changed) >= last_moves or (moved == FREE).sum() > dim + 1:
            break  # converged, too far from the solution to converge soon, or too many free points
        sign = (moved[changed] == AT_C).astype(float) - (state[changed] == AT_C)
        u_at_c = u_at_c + c * (sign @ a[changed])
        state, last_moves = moved, len(changed)
    if best is not None and best.certificate is None:
        best = best._replace(certificate=_certify(rows, best.alpha, best.u, c))
    return best


def _solve(rows: _Rows, alpha, u, c, *, tol, max_epochs, refine_solves):
    """One lambda from a feasible alpha and u = A^T alpha (both changed in place): coordinate-descent
    epochs, and a refinement first and whenever an epoch leaves more than half of the gap, until the
    relative gap is at most tol. Returns alpha, u, the last certificate and the epochs run."""
    previous = np.inf
    for epochs in range(max_epochs + 1):
        margins = rows.margins(u)
        certificate = _certify(rows, alpha, u, c, margins)
        if certificate.gap <= tol:
            break
        if certificate.gap > 0.5 * previous:
            refined = _refine(rows, alpha, u, c, tol=tol, max_solves=refine_solves)
            if refined is not None and refined.dual > certificate.dual:
                alpha, u, _, certificate = refined
                if certificate.gap <= tol:
                    break
                margins = rows.margins(u)
        if epochs == max_epochs:
            break
        previous = certificate.gap
        _pair_epoch(rows.dense, rows.diagonal, rows.y, alpha, u, c, *_violating_pairs(rows, alpha, c, margins))
    return alpha, u, certificate, epochs


def _start(rows: _Rows, c: float) -> tuple[np.ndarray, np.ndarray]:
    """The first lambda's alpha and u: zero, or every point inside the margin (exact at large lambda;
    the larger class's alphas scaled down to the smaller one's sum), whichever has the higher D."""
    own = np.where(rows.y > 0, (rows.y > 0).sum(), (rows.y < 0).sum())
    alpha = c * np.minimum(1.0, (len(own) - own) / own)
    u = rows.combine(alpha)
    if _dual(alpha, u) < 0.0:
        return np.zeros(len(alpha)), np.zeros(len(rows.columns))
    return alpha, u


def path(x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor, *, hinge: str = "sum", tol: float = 1e-4,
         max_epochs: int = 10_000, refine_solves: int = 8) -> dict:
    """The SVM of the objective above for every lambda, warm-started from the largest lambda down (see
    the module docstring); at most `max_epochs` coordinate-descent epochs per lambda.

    x (n, ...) in the units trained on, y in {-1, +1}. Returns w (L, d), b (L,), the objective E,
    the relative duality gap and the epochs per lambda, in the order of `lambdas`, as float64 tensors on
    the device of x.
    """
    if not set(torch.unique(y).tolist()) <= {-1, 1}:
        raise ValueError("labels must be -1 or +1")
    x = x.reshape(len(x), -1).double()
    lambdas = lambdas.to(x)
    c = penalty_weight(lambdas, len(x), hinge)
    rows = _Rows((y.to(x)[:, None] * x).cpu().numpy(), y.cpu().numpy())
    w, b, objective, gap = np.zeros((len(c), x.shape[1])), np.zeros(len(c)), np.zeros(len(c)), np.zeros(len(c))
    epochs = np.zeros(len(c), dtype=np.int64)
    alpha = None
    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # small products: one thread is faster
        for k in torch.argsort(lambdas, descending=True).tolist():
            ck = float(c[k])
            if alpha is None:
                alpha, u_k = _start(rows, ck)
            else:  # kept, or rescaled by the ratio r of the C's: D(r alpha) = r sum(alpha) - r^2 ||u||^2 / 2
                ratio, total, norm2 = ck / previous_c, float(alpha.sum()), float(u_k @ u_k)
                if ratio * total - 0.5 * ratio ** 2 * norm2 > total - 0.5 * norm2:
                    alpha, u_k = ratio * alpha, ratio * u_k
            alpha, u_k, certificate, epochs[k] = _solve(rows, alpha, u_k, ck, tol=tol, max_epochs=max_epochs,
                                                        refine_solves=refine_solves)
            w[k, rows.columns], b[k], gap[k], previous_c = u_k, certificate.bias, certificate.gap, ck
            objective[k] = 2 * float(lambdas[k]) * certificate.primal  # E = 2 lambda P
    return {"w": torch.from_numpy(w).to(x.device), "b": torch.from_numpy(b).to(x.device),
            "objective": torch.from_numpy(objective).to(x.device), "gap": torch.from_numpy(gap).to(x.device),
            "epochs": torch.from_numpy(epochs).to(x.device), "c": c}


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


AUTHORS_ROWS = ("theta", "offset", "margin", "d_adv", "train_error", "test_error")  # extras_XY.csv rows 0-5


def authors_curves(path, alphas) -> dict:
    """The authors' published curves of one pair at `alphas` (reference/tanay2016/extras_XY.csv, see its
    README: column c is lambda = 10^(7 - c / 10); rows AUTHORS_ROWS, errors in % made fractions)."""
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    columns = np.rint((7.0 - np.asarray(alphas, dtype=float)) * 10).astype(int)
    if columns.min() < 0 or columns.max() >= table.shape[1] or not np.allclose(7.0 - columns / 10, alphas):
        raise ValueError(f"the authors' curves hold alpha = 7, 6.9, ..., {7 - (table.shape[1] - 1) / 10:g} only; "
                         f"asked for {list(alphas)}")
    curves = dict(zip(AUTHORS_ROWS, table[:len(AUTHORS_ROWS), columns]))
    for error in ("train_error", "test_error"):
        curves[error] = curves[error] / 100
    return {name: values.tolist() for name, values in curves.items()}
