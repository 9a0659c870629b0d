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
