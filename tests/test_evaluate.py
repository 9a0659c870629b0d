import math

import pytest
import torch
from torch import nn

from advrepro import evaluate
from advrepro.attacks import input_gradient, one_step
from advrepro.evaluate import (
    EvaluationInputs, clean_error, error_under_noise, min_perturbation_along_gradient, perturbation_statistics,
)
from advrepro.inference import map_batches
from advrepro.papers.goodfellow2014 import logistic_regression_check
from advrepro.papers.lyu2015 import perturbation_examples
from advrepro.papers.tanay2016 import temperature_for_median_confidence


def _linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(20, 5)).double()


def _data(model: nn.Module, n: int = 400, seed: int = 1):
    x = torch.randn(n, 1, 4, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[::7] = (y[::7] + 1) % 5  # some points misclassified
    return x, y


def _exact_flip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Closed form: logits are linear along the ray x + t d, so y loses the argmax at the first crossing."""
    linear = model[1]
    grad = input_gradient(model, x, y).flatten(1)
    d = grad / grad.norm(dim=1, keepdim=True)
    with torch.no_grad():
        z0 = model(x)
        slope = d @ linear.weight.T  # dz/dt per class
    gap = z0.gather(1, y[:, None]) - z0
    rate = slope - slope.gather(1, y[:, None])
    crossing = torch.where(rate > 0, gap / rate, torch.full_like(gap, math.inf))
    crossing.scatter_(1, y[:, None], math.inf)
    return crossing.min(1).values


@pytest.mark.parametrize("tol", [1e-2, 1e-5])
def test_line_search_matches_the_exact_flip_point_of_a_linear_model(tol):
    model = _linear_model()
    x, y = _data(model)
    found = min_perturbation_along_gradient(model, x, y, max_norm=50.0, tol=tol)
    exact = _exact_flip(model, x, y)
    correct = model(x).argmax(1) == y
    assert torch.isnan(found[~correct]).all()
    within = correct & (exact <= 50.0)
    assert within.sum() > 100
    assert (found[within] >= exact[within] - 1e-9).all() and (found[within] - exact[within] <= tol).all()
    assert torch.isinf(found[correct & (exact > 50.0)]).all()


def test_no_flip_within_max_norm_and_zero_gradient_give_inf():
    model = _linear_model()
    x, y = _data(model)
    correct = model(x).argmax(1) == y
    tiny = min_perturbation_along_gradient(model, x, y, max_norm=1e-6, tol=1e-8)
    assert torch.isinf(tiny[correct]).all()
    flat = nn.Sequential(nn.Flatten(), nn.Linear(20, 5)).double()
    nn.init.zeros_(flat[1].weight)
    with torch.no_grad():
        flat[1].bias.copy_(torch.arange(5.0))
    y4 = torch.full((len(x),), 4)
    assert torch.isinf(min_perturbation_along_gradient(flat, x, y4, max_norm=10.0, tol=1e-3)).all()


def test_batched_equals_per_example():
    model = _linear_model()
    x, y = _data(model, n=30)
    batched = min_perturbation_along_gradient(model, x, y, max_norm=50.0, tol=1e-4)
    single = torch.cat([min_perturbation_along_gradient(model, x[i : i + 1], y[i : i + 1], 50.0, 1e-4) for i in range(30)])
    torch.testing.assert_close(batched, single, equal_nan=True)


def test_evaluations_leave_mode_and_parameter_gradients_alone():
    model = _linear_model()
    x, y = _data(model, n=50)
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 3.0)
    min_perturbation_along_gradient(model, x, y, 10.0, 1e-3)
    error_under_noise(model, x, y, stds=[0.1], draws=2, seed=0)
    assert model.training
    assert all(torch.all(p.grad == 3.0) for p in model.parameters())


def test_noise_sweep_without_noise_is_the_clean_error_and_is_seeded():
    model = _linear_model()
    x, y = _data(model)
    rows = error_under_noise(model, x, y, stds=[0.0, 0.5], draws=4, seed=3)
    assert rows[0]["error"] == pytest.approx(clean_error(model, x, y)["error"]) and rows[0]["additional_error"] == 0
    assert rows[1]["draws"] == 4 and rows[1]["error_sem"] > 0
    assert rows == error_under_noise(model, x, y, stds=[0.0, 0.5], draws=4, seed=3)


def test_perturbation_statistics_use_finite_points_only():
    stats = perturbation_statistics(torch.tensor([1.0, 3.0, math.inf, math.nan]))
    assert stats["mean"] == 2.0 and stats["n_correct"] == 3 and stats["n_finite"] == 2 and stats["n_no_flip"] == 1


def test_perturbation_examples_are_steps_of_norm_sigma_along_the_gradient():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.rand(50, 1, 28, 28, generator=gen), torch.randint(0, 10, (50,), generator=gen)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    result = perturbation_examples(model, x, y, p=2, sigmas=[1.0, 10.0], n=5, seed=3)
    assert len(result["indices"]) == len(set(result["indices"])) == 5
    picked = x[result["indices"]]
    torch.testing.assert_close(torch.tensor(result["images"]), picked)
    grad = input_gradient(model, picked, y[result["indices"]])
    for step in result["perturbed"]:
        eps = torch.tensor(step["perturbations"])
        torch.testing.assert_close(eps.flatten(1).norm(dim=1), torch.full((5,), step["sigma"]))
        cosine = torch.nn.functional.cosine_similarity(eps.flatten(1), grad.flatten(1))
        torch.testing.assert_close(cosine, torch.ones(5))
        assert step["predictions"] == model(picked + eps).argmax(1).tolist()


def test_running_out_of_memory_halves_the_batch_and_gives_the_same_result(capsys):
    x = torch.arange(300.0).view(300, 1)
    sizes = []

    def fn(chunk):
        sizes.append(len(chunk))
        if len(chunk) > 64:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return chunk * 2

    torch.testing.assert_close(map_batches(fn, x, batch_size=256), x * 2)
    assert sizes[:4] == [256, 128, 64, 64] and max(sizes[2:]) <= 64
    assert "out of memory: evaluating in batches of 64" in capsys.readouterr().err


def test_fgsm_sweep_matches_one_step_and_reports_confidence_on_errors():
    model = _linear_model()
    x, y = _data(model)
    (row,) = evaluate.fgsm_sweep(model, x, y, epsilons=[0.3], batch_size=64)
    with torch.no_grad():
        probs = model(one_step(model, x, y, eps=0.3)).softmax(1)
    confidence, predicted = probs.max(1)
    wrong = predicted != y
    assert row["error"] == pytest.approx(wrong.double().mean().item())
    assert row["mean_confidence"] == pytest.approx(confidence.mean().item())
    assert row["confidence_on_errors"] == pytest.approx(confidence[wrong].mean().item())
    (zero,) = evaluate.fgsm_sweep(model, x, y, epsilons=[0.0])
    assert zero["error"] == pytest.approx(clean_error(model, x, y)["error"])


def test_transfer_crafts_on_the_source_and_evaluates_the_target():
    target, source = _linear_model(0), _linear_model(5)
    x, y = _data(target)
    (row,) = evaluate.fgsm_sweep(target, x, y, epsilons=[0.5], source=source)
    with torch.no_grad():
        expected = (target(one_step(source, x, y, eps=0.5)).argmax(1) != y).double().mean().item()
    assert row["error"] == pytest.approx(expected)
    (white_box,) = evaluate.fgsm_sweep(target, x, y, epsilons=[0.5])
    assert white_box["error"] != row["error"]


def test_logistic_regression_check_needs_two_logits_and_matches_the_closed_form():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 2)).double()
    x = torch.randn(60, 1, 4, 5, dtype=torch.float64)
    y = torch.randint(0, 2, (60,))
    result = logistic_regression_check(model, x, y, eps=0.25, n=4, seed=0)
    assert result["closed_form_max_abs_gap"] < 1e-10
    assert len(result["examples"]["images"]) == 4 and result["fgsm"]["error"] >= result["clean"]["error"]
    with pytest.raises(ValueError, match="two-logit"):
        logistic_regression_check(_linear_model(), x, y, eps=0.25, n=4, seed=0)


def test_unknown_evaluation_kind_names_the_allowed_ones():
    model = _linear_model()
    x, y = _data(model)
    with pytest.raises(ValueError, match=r"unknown evaluation kind 'fgs' \(did you mean 'fgsm'\?\); allowed: .*clean, fgsm"):
        evaluate.run("fgs", EvaluationInputs(model, x, y), {})


def test_adversarial_samples_come_from_the_set_with_the_changed_pixel():
    import advrepro.papers.shaham2015  # noqa: F401  (registers the paper's evaluation kinds)
    from advrepro.attacks import adversarial_set

    model = _linear_model()
    x, y = _data(model)
    built = adversarial_set(model, x, y, [{"p": 1, "eps": 3.0}, {"p": 2, "eps": 1.0}])
    assert (built["step"] == 0).any()
    result = evaluate.run("adversarial_samples", EvaluationInputs(model, built["images"], built["labels"],
                                                                  adversarial_set=built), {"n": 5, "p": 1})
    assert [s["p"] for s in result["steps"]] == [1] * min(5, int((built["step"] == 0).sum()))
    for original, image, (c, h, w) in zip(result["originals"], result["images"], result["changed"]):
        diff = torch.tensor(image) - torch.tensor(original)
        assert diff.abs()[c, h, w] == pytest.approx(3.0) and (diff != 0).sum() == 1
    assert all(p != label for p, label in zip(result["predictions"], result["labels"]))
    assert result["original_predictions"] == result["labels"]
    with pytest.raises(ValueError, match="adversarial_set"):
        evaluate.run("adversarial_samples", EvaluationInputs(model, x, y), {"n": 5})


def test_temperature_sets_the_median_top_probability():
    logits = torch.randn(501, 10, generator=torch.Generator().manual_seed(0)) * 7
    t = temperature_for_median_confidence(logits, 0.95)
    assert (logits / t).softmax(1).max(1).values.median().item() == pytest.approx(0.95, abs=1e-5)
