import math

import pytest
import torch
from torch import nn

from advrepro import attacks
from advrepro.perturbations import steepest_ascent


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 3)).double()


def _data(n: int = 32):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 3, 4, generator=gen, dtype=torch.float64), torch.randint(3, (n,), generator=gen)


def test_fgsm_is_the_p_inf_step_along_the_eval_mode_input_gradient():
    model, (x, y) = _model(), _data()
    model.eval()
    x_ = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(x_), y, reduction="sum"), x_)
    expected = x + steepest_ascent(grad, math.inf, 0.25)
    assert torch.equal(attacks.one_step(model, x, y, eps=0.25), expected)
    torch.testing.assert_close((expected - x).abs(), torch.full_like(x, 0.25))


@pytest.mark.parametrize("p", [1, 2, math.inf])
def test_batched_attack_equals_per_example_attacks(p):
    model, (x, y) = _model(), _data()
    batched = attacks.one_step(model, x, y, p=p, eps=0.3)
    single = torch.cat([attacks.one_step(model, x[i:i + 1], y[i:i + 1], p=p, eps=0.3) for i in range(len(y))])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_attack_leaves_mode_and_parameter_gradients_as_found(training):
    model, (x, y) = _model(), _data()
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.train(training)
    first = attacks.one_step(model, x, y, eps=0.1)
    assert model.training is training
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert torch.equal(first, attacks.one_step(model, x, y, eps=0.1))  # eval mode: dropout off, deterministic


def test_clip_is_explicit():
    model, (x, y) = _model(), _data()
    unclipped = attacks.one_step(model, x, y, eps=0.5)
    clipped = attacks.one_step(model, x, y, eps=0.5, clip=(0.0, 1.0))
    assert unclipped.min() < 0 and unclipped.max() > 1
    assert torch.equal(clipped, unclipped.clamp(0, 1))


@pytest.mark.parametrize("p, eps", [(1, 2.0), (2, 2.0), (math.inf, 0.2)])
def test_shaham_steps_have_the_stated_norms_before_clipping(p, eps):
    """Shaham et al. 2015, eq. (11): the l1 step moves exactly one coordinate by eps; l2 and linf steps
    have norm eps (no clipping)."""
    model, (x, y) = _model(), _data()
    delta = (attacks.one_step(model, x, y, p=p, eps=eps) - x).flatten(1)
    if p == 1:
        assert ((delta != 0).sum(1) == 1).all()
        torch.testing.assert_close(delta.abs().sum(1), torch.full((len(y),), eps, dtype=delta.dtype))
    norms = torch.linalg.vector_norm(delta, ord=p, dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, eps))


def test_l1_step_ties_go_to_the_lowest_index_deterministically():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, -1.0, 1.0, 0.5], [-1.0, 1.0, -1.0, -0.5]]))
    x, y = torch.zeros(3, 1, 2, 2, dtype=torch.float64), torch.tensor([0, 1, 0])
    for _ in range(2):
        delta = (attacks.one_step(model, x, y, p=1, eps=2.0) - x).flatten(1)
        assert torch.equal(delta, torch.tensor([[-2.0, 0, 0, 0], [2.0, 0, 0, 0], [-2.0, 0, 0, 0]], dtype=torch.float64))


def test_adversarial_set_holds_only_correct_points_whose_step_is_misclassified():
    model, (x, y) = _model(), _data(200)
    with torch.no_grad():
        y = model.eval()(x).argmax(1)
    y[::5] = (y[::5] + 1) % 3  # some points misclassified from the start
    steps = [{"p": 1, "eps": 1.0}, {"p": 2, "eps": 0.5}, {"p": math.inf, "eps": 0.1}]
    built = attacks.adversarial_set(model, x, y, steps, batch_size=64)
    with torch.no_grad():
        clean, fooled = model(x).argmax(1), model(built["images"]).argmax(1)
    assert len(built["labels"]) > 0
    assert torch.equal(clean[built["index"]], built["labels"]) and torch.equal(y[built["index"]], built["labels"])
    assert (fooled != built["labels"]).all()
    assert torch.equal(built["originals"], x[built["index"]])
    for number, step in enumerate(steps):  # every qualifying point of every step, and only those
        adversarial = attacks.one_step(model, x, y, p=step["p"], eps=step["eps"])
        with torch.no_grad():
            expected = ((clean == y) & (model(adversarial).argmax(1) != y)).nonzero().flatten()
        assert torch.equal(built["index"][built["step"] == number], expected)
        torch.testing.assert_close(built["images"][built["step"] == number], adversarial[expected])


def _linear_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 10))


def test_targeted_ascent_stops_exactly_when_the_target_probability_reaches_the_level():
    model = _linear_net()
    x = torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 5  # dim images: no class is sure yet
    target = (torch.arange(10) + 1) % 10
    level, kwargs = 0.95, {"step": 1.0, "low": 0.0, "high": 255.0, "temperature": 1.0}
    result = attacks.targeted_ascent(model, x, target, level=level, max_steps=5000, **kwargs)
    steps = result["steps"]
    assert result["reached"].all() and (result["probability"] >= level).all() and (steps > 0).all()
    assert len(set(steps.tolist())) > 1  # examples freeze at different steps
    # one step fewer, each example is still below the level: it stopped at the first iterate reaching it
    for k in range(len(x)):
        before = attacks.targeted_ascent(model, x[k:k + 1], target[k:k + 1], level=level,
                                         max_steps=int(steps[k]) - 1, **kwargs)
        assert before["probability"][0] < level and not before["reached"][0]
        torch.testing.assert_close(attacks.targeted_ascent(model, x[k:k + 1], target[k:k + 1], level=level,
                                                           max_steps=int(steps[k]), **kwargs)["adversarial"],
                                   result["adversarial"][k:k + 1])
    assert result["adversarial"].min() >= 0 and result["adversarial"].max() <= 255


def test_targeted_ascent_reports_the_safety_stop_and_leaves_the_model_as_found():
    model = _linear_net().train()
    x = torch.rand(3, 1, 4, 4) * 255
    result = attacks.targeted_ascent(model, x, torch.tensor([1, 2, 3]), level=0.999999, step=1e-3, low=0.0,
                                     high=255.0, max_steps=3)
    assert (result["steps"] == 3).all() and not result["reached"].any()
    assert model.training and all(p.grad is None for p in model.parameters())


def test_calibrated_radii_build_a_set_of_the_asked_size_with_the_radii_ratios_kept():
    model, (x, y) = _model(), _data(300)
    with torch.no_grad():
        y = model.eval()(x).argmax(1)
    steps = [{"p": 2, "eps": 0.5}, {"p": math.inf, "eps": 0.05}]
    at_registry_radii = len(attacks.adversarial_set(model, x, y, steps)["labels"])
    for size in (at_registry_radii // 3, at_registry_radii + 40):
        found = attacks.calibrate_radii(model, x, y, steps, size, batch_size=64)
        built = attacks.adversarial_set(model, x, y, found.steps, batch_size=64)
        assert found.size == len(built["labels"]) == size
        assert [s["eps"] / found.scale for s in found.steps] == pytest.approx([s["eps"] for s in steps])
        assert (found.scale < 1) == (size < at_registry_radii)
    assert attacks.calibrate_radii(model, x, y, steps, at_registry_radii).scale == 1.0
    assert model.training is False  # left in the mode it was found in (eval, from above)


# --- PGD (Madry et al. 2018) ---------------------------------------------------------------------


def _trained_linear(seed: int = 0, n: int = 600):
    """A softmax regression fitted to a linearly separable 3-class problem in [0, 1]^12, and its data."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 3, 4, generator=gen)
    teacher = torch.randn(12, 3, generator=gen)
    y = (x.flatten(1) - 0.5).matmul(teacher).argmax(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    for _ in range(300):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return model.eval(), x, y


def _error(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) != y).double().mean().item()


@pytest.mark.parametrize("p", [math.inf, 2, 1])
def test_pgd_with_one_step_no_random_start_and_step_eps_is_the_one_step_attack(p):
    model, (x, y) = _model().eval(), _data(64)
    fgsm = attacks.one_step(model, x, y, p=p, eps=0.3, clip=(0.0, 1.0))
    every = attacks.pgd(model, x, y, p=p, eps=0.3, step=0.3, steps=1, random=False, clip=(0.0, 1.0), early_stop=False)
    torch.testing.assert_close(every, fgsm, rtol=0, atol=1e-12)
    # as evaluated (a misclassified example stops where it is): the same error
    stopping = attacks.pgd(model, x, y, p=p, eps=0.3, step=0.3, steps=1, random=False, clip=(0.0, 1.0))
    assert _error(model, stopping, y) == _error(model, fgsm, y)


@pytest.mark.parametrize("p, eps", [(2, 0.7), (1, 1.5), (math.inf, 0.2)])
def test_projection_keeps_the_perturbation_in_the_ball_and_moves_nothing_inside_it(p, eps):
    delta = torch.randn(50, 1, 3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    delta[:10] *= 1e-3  # inside the ball
    projected = attacks.project(delta, p, eps)
    norms = torch.linalg.vector_norm(projected.flatten(1), ord=p, dim=1)
    assert (norms <= eps * (1 + 1e-12)).all()
    torch.testing.assert_close(projected[:10], delta[:10])
    outside = torch.linalg.vector_norm(delta.flatten(1), ord=p, dim=1) > eps
    torch.testing.assert_close(norms[outside], torch.full_like(norms[outside], eps))  # onto the sphere


def test_l1_projection_is_the_nearest_point_of_the_ball():
    """Duchi et al. 2008: no point of the l1 ball is closer (in l2) than the projection; checked against many."""
    gen = torch.Generator().manual_seed(3)
    v = torch.randn(1, 12, generator=gen, dtype=torch.float64) * 2
    projected = attacks.project(v, 1, 1.0)
    candidates = attacks.project(torch.randn(20_000, 12, generator=gen, dtype=torch.float64), 1, 1.0)
    assert (candidates - v).norm(dim=1).min() >= (projected - v).norm() - 1e-12


@pytest.mark.parametrize("p, eps", [(2, 1.0), (math.inf, 0.1), (1, 2.0)])
def test_pgd_stays_in_the_ball_and_the_box(p, eps):
    model, x, y = _trained_linear()
    generator = torch.Generator().manual_seed(0)
    adversarial = attacks.pgd(model, x, y, p=p, eps=eps, step=eps / 4, steps=10, restarts=2, clip=(0.0, 1.0),
                              generator=generator)
    norms = torch.linalg.vector_norm((adversarial - x).flatten(1), ord=p, dim=1)
    assert (norms <= eps * (1 + 1e-5)).all() and adversarial.min() >= 0 and adversarial.max() <= 1
    assert _error(model, adversarial, y) > _error(model, x, y)


def test_pgd_stopping_at_the_first_fooled_iterate_is_never_weaker_and_is_batched():
    model, x, y = _trained_linear()
    settings = {"eps": 0.08, "step": 0.01, "steps": 20, "clip": (0.0, 1.0), "random": False}
    stopping, every = attacks.pgd(model, x, y, **settings), attacks.pgd(model, x, y, early_stop=False, **settings)
    assert _error(model, stopping, y) >= _error(model, every, y)
    single = torch.cat([attacks.pgd(model, x[i:i + 1], y[i:i + 1], **settings) for i in range(0, 600, 37)])
    torch.testing.assert_close(single, stopping[::37], rtol=0, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_pgd_leaves_mode_parameter_gradients_and_flags_as_found(training):
    model, (x, y) = _model(), _data()
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model[1].weight.requires_grad_(False)
    model.train(training)
    attacks.pgd(model, x, y, eps=0.1, step=0.05, steps=3, generator=torch.Generator().manual_seed(0))
    assert model.training is training
    assert [p.requires_grad for p in model.parameters()] == [False, True, True, True]
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))


@pytest.mark.parametrize("p, eps", [(math.inf, 0.08), (2, 0.3)])
def test_pgd_error_equals_torchattacks_pgd_on_the_same_model_seed_and_settings(p, eps):
    torchattacks = pytest.importorskip("torchattacks", reason="pip install --no-deps torchattacks (make setup does)")
    model, x, y = _trained_linear(n=2000)
    assert 0.01 < _error(model, x, y) < 0.2
    settings = {"eps": eps, "alpha": eps / 4, "steps": 10, "random_start": True}
    torch.manual_seed(5)  # torchattacks draws its random start from the global generator
    theirs = (torchattacks.PGD if math.isinf(p) else torchattacks.PGDL2)(model, **settings)(x, y)
    target = _error(model, theirs, y)
    assert 0.2 < target < 0.95  # the attack matters, and is not trivially complete
    for early_stop in (False, True):
        ours = attacks.pgd(model, x, y, p=p, eps=eps, step=eps / 4, steps=10, clip=(0.0, 1.0),
                           generator=torch.Generator().manual_seed(5), early_stop=early_stop)
        assert abs(_error(model, ours, y) - target) <= 0.005, early_stop
