import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from advrepro import objectives, training
from advrepro.inference import error_rate
from advrepro.models import build
from advrepro.perturbations import steepest_ascent

SPEC = {"objective": {"name": "plain", "weight_decay": 0.01}, "epochs": 4, "batch_size": 16, "lr": 0.1,
        "momentum": 0.9, "lr_schedule": {"kind": "linear", "final_fraction": 0.1}}


def _data():
    gen = torch.Generator().manual_seed(0)
    return torch.rand(100, 1, 28, 28, generator=gen), torch.randint(0, 10, (100,), generator=gen)


class _Killed(Exception):
    pass


def _dies_after(model: nn.Module, calls: int) -> nn.Module:
    """Make `model` raise after `calls` forward passes, as a killed job would stop."""
    left = [calls]

    def hook(module, inputs):
        left[0] -= 1
        if left[0] < 0:
            raise _Killed

    model.register_forward_pre_hook(hook)
    return model


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path):
    x, y = _data()
    torch.manual_seed(0)
    reference = build("softmax_regression", "mnist")
    training.train(reference, x, y, spec=SPEC, seed=5, checkpoint=tmp_path / "a.pt", checkpoint_every=2)

    torch.manual_seed(0)
    model = build("softmax_regression", "mnist")
    with pytest.raises(_Killed):  # 7 batches per epoch: dies inside epoch 3, after the epoch-2 checkpoint
        training.train(_dies_after(model, 7 * 2 + 3), x, y, spec=SPEC, seed=5, checkpoint=tmp_path / "b.pt",
                       checkpoint_every=2)
    assert (tmp_path / "b.pt").exists()
    resumed = build("softmax_regression", "mnist")
    record = training.train(resumed, x, y, spec=SPEC, seed=5, checkpoint=tmp_path / "b.pt", checkpoint_every=2)
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3, 4]
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_checkpoint_of_another_spec_is_not_resumed(tmp_path):
    x, y = _data()
    model = build("softmax_regression", "mnist")
    training.train(model, x, y, spec=SPEC, seed=5, checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    record = training.train(build("softmax_regression", "mnist"), x, y, spec={**SPEC, "lr": 0.05}, seed=5,
                            checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    assert record["history"][0]["epoch"] == 1


def _interrupted(tmp_path, build_model, x, y, **kwargs) -> Path:
    """A checkpoint left by a run killed in epoch 3 (after the epoch-2 checkpoint)."""
    checkpoint = tmp_path / "killed.pt"
    with pytest.raises(_Killed):
        training.train(_dies_after(build_model(), 7 * 2 + 3), x, y, spec=SPEC, seed=5, checkpoint=checkpoint,
                       checkpoint_every=2, **kwargs)
    assert checkpoint.exists()
    return checkpoint


def _fresh(tmp_path, build_model, x, y, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = build_model()
    training.train(model, x, y, spec=SPEC, seed=5, checkpoint=tmp_path / "fresh.pt", checkpoint_every=2, **kwargs)
    return model


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (key, u), v in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(u, v, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("change", ["fewer examples", "other labels", "setup"])
def test_a_checkpoint_of_other_data_or_setup_is_discarded_with_a_message(tmp_path, capsys, change):
    x, y = _data()
    checkpoint = _interrupted(tmp_path, lambda: build("softmax_regression", "mnist"), x, y, setup={"train_examples": 100})
    changed = {"fewer examples": dict(x=x[:80], y=y[:80], setup={"train_examples": 100}),
               "other labels": dict(x=x, y=(y + 1) % 10, setup={"train_examples": 100}),
               "setup": dict(x=x, y=y, setup={"train_examples": 90})}[change]
    setup = changed.pop("setup")
    torch.manual_seed(0)
    resumed = build("softmax_regression", "mnist")
    record = training.train(resumed, changed["x"], changed["y"], spec=SPEC, seed=5, checkpoint=checkpoint,
                            checkpoint_every=2, setup=setup)
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3, 4]
    assert "was saved for another setup" in capsys.readouterr().err
    _assert_same_weights(_fresh(tmp_path, lambda: build("softmax_regression", "mnist"), changed["x"], changed["y"],
                                setup=setup), resumed)


def test_a_checkpoint_of_another_architecture_is_discarded_not_loaded(tmp_path, capsys):
    x, y = _data()
    checkpoint = _interrupted(tmp_path, lambda: build("maxout_mlp", "mnist", units=8, pieces=2), x, y)
    torch.manual_seed(0)
    wider = build("maxout_mlp", "mnist", units=12, pieces=2)  # options changed: no state_dict mismatch
    training.train(wider, x, y, spec=SPEC, seed=5, checkpoint=checkpoint, checkpoint_every=2)
    assert "was saved for another setup" in capsys.readouterr().err
    _assert_same_weights(_fresh(tmp_path, lambda: build("maxout_mlp", "mnist", units=12, pieces=2), x, y), wider)


def test_a_truncated_checkpoint_is_set_aside_and_training_starts_fresh(tmp_path, capsys):
    x, y = _data()
    checkpoint = _interrupted(tmp_path, lambda: build("softmax_regression", "mnist"), x, y)
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    torch.manual_seed(0)
    model = build("softmax_regression", "mnist")
    training.train(model, x, y, spec=SPEC, seed=5, checkpoint=checkpoint, checkpoint_every=2)
    err = capsys.readouterr().err
    assert f"{checkpoint} is truncated or corrupt" in err and f"Set aside as {checkpoint}.corrupt" in err
    assert (tmp_path / "killed.pt.corrupt").exists()
    _assert_same_weights(_fresh(tmp_path, lambda: build("softmax_regression", "mnist"), x, y), model)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_weight_decay_objective_is_cross_entropy_plus_half_lambda_squared_weights(reduction):
    x, y = _data()
    model = build("softmax_regression", "mnist")
    loss, logits = objectives.weight_decay_objective(0.3, reduction)(model, x, y)
    expected = nn.functional.cross_entropy(model(x), y, reduction=reduction) + 0.15 * model[1].weight.pow(2).sum()
    torch.testing.assert_close(loss, expected)
    assert logits.shape == (100, 10)


def test_diverging_run_stops_naming_the_model_and_epoch(tmp_path):
    x, y = _data()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"\[net\] training diverged at epoch 1"):
        training.train(build("softmax_regression", "mnist"), x, y, spec=SPEC, seed=0, checkpoint=tmp_path / "d.pt",
                       checkpoint_every=2, name="net")


def test_momentum_rule_keeps_the_learning_rate_inside_the_velocity():
    """pylearn2: v <- m v - lr g; theta <- theta + v, by hand over two steps with a changing rate."""
    param = nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = training.MomentumSGD([{"params": [param], "lr_scale": 0.5}], lr=0.1, momentum=0.5)
    velocity, theta = torch.zeros(2), param.detach().clone()
    for lr, grad in ((0.1, torch.tensor([1.0, 2.0])), (0.4, torch.tensor([-3.0, 0.5]))):
        optimizer.param_groups[0]["lr"] = lr
        param.grad = grad.clone()
        optimizer.step()
        velocity = 0.5 * velocity - lr * 0.5 * grad
        theta = theta + velocity
        torch.testing.assert_close(param.detach(), theta)


def test_schedules_follow_pylearn2():
    spec = {"lr": 0.1, "epochs": 10, "momentum": 0.5, "momentum_schedule": {"final": 0.7, "saturate_epoch": 5},
            "lr_schedule": {"kind": "exponential", "factor": 2.0, "min_lr": 0.01}}
    assert training.learning_rate(spec, 0, 0) == 0.1 and training.learning_rate(spec, 0, 2) == 0.025
    assert training.learning_rate(spec, 3, 10) == 0.01  # floored
    linear = {**spec, "lr_schedule": {"kind": "linear", "final_fraction": 0.01, "saturate_epoch": 5}}
    assert [round(training.learning_rate(linear, e, 0), 6) for e in (0, 2, 4, 8)] == [0.1, 0.0505, 0.001, 0.001]
    assert [round(training.momentum(spec, e), 6) for e in (0, 2, 4, 7)] == [0.5, 0.6, 0.7, 0.7]


def test_every_step_ends_inside_the_max_norm_ball(tmp_path):
    x, y = _data()
    model = build("maxout_mlp", "mnist", units=8, pieces=2, max_col_norm=0.05)
    checked = []

    def check(module, args, kwargs):  # before each forward pass: the initial or the previous step's weights
        checked.append(all(layer.weight.norm(dim=1).max().item() <= 0.05 + 1e-6
                           for layer in module.modules() if isinstance(layer, nn.Linear)))

    model.register_forward_pre_hook(check, with_kwargs=True)
    training.train(model, x, y, spec={**SPEC, "objective": {"name": "plain"}, "lr": 1.0}, seed=0,
                   checkpoint=tmp_path / "m.pt", checkpoint_every=10)
    assert not checked[0] and len(checked) > 10 and all(checked[1:])  # the initial weights lie outside
    assert any(layer.weight.norm(dim=1).max() > 0.049 for layer in model.modules() if isinstance(layer, nn.Linear))


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.weight = nn.Parameter(torch.randn(10, 784, generator=gen) * 0.05)

    def forward(self, x):
        return x.flatten(1).tanh() @ self.weight.T


@pytest.mark.parametrize("p", [1, 2, float("inf")])
def test_perturbation_form_is_the_loss_at_x_plus_a_detached_step(p):
    x, y = _data()
    model = _Linear()
    loss, _ = objectives.gradient_regularization(p=p, sigma=0.5)(model, x, y)
    (grad,) = torch.autograd.grad(loss, model.weight)

    xg = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg)
    eps = steepest_ascent(gx, p, 0.5)
    expected = nn.functional.cross_entropy(model(x + eps), y)
    (expected_grad,) = torch.autograd.grad(expected, model.weight)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grad, expected_grad)
    if p == 2:  # a step that carried gradient would change the parameter gradient
        xg = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg, create_graph=True)
        attached = nn.functional.cross_entropy(model(x + steepest_ascent(gx, 2, 0.5)), y)
        (attached_grad,) = torch.autograd.grad(attached, model.weight)
        assert not torch.allclose(grad, attached_grad)


@pytest.mark.parametrize("p", [1, 2, float("inf")])
def test_double_backprop_form_is_the_loss_plus_sigma_times_the_dual_norm(p):
    x, y = _data()
    model = _Linear()
    loss, _ = objectives.gradient_regularization(p=p, sigma=0.5, form="double_backprop")(model, x, y)
    xg = x.clone().requires_grad_(True)
    losses = nn.functional.cross_entropy(model(xg), y, reduction="none")
    (gx,) = torch.autograd.grad(losses.sum(), xg)
    q = {1: float("inf"), 2: 2, float("inf"): 1}[p]
    torch.testing.assert_close(loss, (losses + 0.5 * gx.flatten(1).norm(p=q, dim=1)).mean())
    loss.backward()
    assert model.weight.grad is not None and torch.isfinite(model.weight.grad).all()


def test_two_stage_protocol_stops_when_the_held_out_objective_reaches_the_first_stage_target(tmp_path):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(120, 1, 28, 28, generator=gen)
    y = (x.flatten(1)[:, :10].argmax(1))  # learnable labels
    spec = {"objective": {"name": "plain"}, "epochs": 6, "batch_size": 20, "lr": 0.05, "momentum": 0.5,
            "protocol": {"kind": "two_stage", "validation_fraction": 0.25, "patience": 2, "continue_max_epochs": 30}}
    model = build("softmax_regression", "mnist")
    first = training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s1.pt", checkpoint_every=1)
    assert 1 <= first["best_epoch"] <= first["epochs"] <= 6
    assert first["best_error"] == min(h["valid_error"] for h in first["history"])
    assert error_rate(model, x[90:], y[90:]) == first["best_error"]  # best weights restored
    second = training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s2.pt", checkpoint_every=1,
                            first_stage=first)
    held_out = [h["held_out_objective"] for h in second["history"]]
    assert held_out[-1] <= first["target_objective"] and all(v > first["target_objective"] for v in held_out[:-1])
    assert second["history"][0]["epoch"] == first["best_epoch"] + 1
    assert second["stop"].startswith("held-out objective reached")


def test_torch7_sgd_with_dampening_matches_a_hand_computation():
    """Torch7 optim.sgd: g += wd x; first step v = g, later v = m v + (1 - d) g; x -= lr/(1 + t lrd) v."""
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0]]))
    spec = {"lr": 0.1, "momentum": 0.9, "optimizer": {"kind": "sgd", "dampening": 0.9, "weight_decay": 1e-3},
            "lr_schedule": {"kind": "inverse_time", "decay": 0.5}}
    optimizer = training.make_optimizer(model, spec)
    theta, velocity = model.weight.detach().clone(), None
    for step, grad in enumerate((torch.tensor([[1.0, 2.0]]), torch.tensor([[-3.0, 0.5]]))):
        optimizer.param_groups[0]["lr"] = training.learning_rate(spec, 0, step)
        model.weight.grad = grad.clone()
        optimizer.step()
        g = grad + 1e-3 * theta
        velocity = g if velocity is None else 0.9 * velocity + 0.1 * g
        theta = theta - 0.1 / (1 + 0.5 * step) * velocity
        torch.testing.assert_close(model.weight.detach(), theta)


def test_adam_takes_the_schedules_rate_and_refuses_layer_lr_scales():
    """The reduced scales' Adam: its first step moves each weight by the rate (Adam's normalized step), the rate
    the schedule sets on the group; a model with pylearn2 lr scales is refused, naming the kind."""
    model = nn.Linear(2, 1, bias=False)
    spec = {"lr": 0.01, "momentum": 0.5, "optimizer": {"kind": "adam"}}
    optimizer = training.make_optimizer(model, spec)
    assert isinstance(optimizer, torch.optim.Adam)
    before = model.weight.detach().clone()
    optimizer.param_groups[0]["lr"] = 0.001
    model.weight.grad = torch.tensor([[3.0, -0.5]])
    optimizer.step()
    torch.testing.assert_close(model.weight.detach() - before, torch.tensor([[-0.001, 0.001]]))
    scaled = build("conv_maxout_cifar_small", "cifar10_gcn_zca")
    with pytest.raises(ValueError, match="optimizer kind adam"):
        training.make_optimizer(scaled, spec)
    training.make_optimizer(build("conv_maxout_cifar_small", "cifar10_gcn_zca", conv_lr_scale=1.0), spec)


def test_recomputed_batch_norm_statistics_are_the_final_weights_averages():
    """The running mean becomes the mean of the layer's inputs over the images (equal batches) and the variance the
    average of the batches' unbiased variances, whatever the running averages held; the momentum and mode are kept."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    model[1].running_mean.fill_(50.0)
    model[1].running_var.fill_(1e-3)
    images = torch.randn(8, 3)
    training.recompute_batch_norm_statistics(model, images, batch_size=4)
    with torch.no_grad():
        inputs = model[0](images)
    torch.testing.assert_close(model[1].running_mean, inputs.mean(0))
    torch.testing.assert_close(model[1].running_var, torch.stack([b.var(0) for b in inputs.split(4)]).mean(0))
    assert model[1].momentum == 0.1 and not model.training
    with pytest.raises(ValueError, match="no batch-norm layer"):
        training.recompute_batch_norm_statistics(nn.Linear(3, 4), images, batch_size=4)


def test_training_with_recompute_batch_norm_leaves_the_statistics_of_the_final_weights(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(64, 5), torch.randint(0, 2, (64,))
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    spec = {"objective": {"name": "plain"}, "epochs": 2, "batch_size": 16, "lr": 1.0, "momentum": 0.9,
            "optimizer": {"kind": "sgd"}, "protocol": {"kind": "fixed"}, "recompute_batch_norm": True}
    # without it, the last steps at lr 1 leave the running mean elsewhere (the test fails with the key removed)
    training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "c.pt", checkpoint_every=1)
    with torch.no_grad():
        torch.testing.assert_close(model[1].running_mean, model[0](x).mean(0))


def test_inverse_time_schedule_steps_down_every_few_epochs():
    spec = {"lr": 1.0, "lr_schedule": {"kind": "inverse_time", "decay": 0.0, "every": 25, "factor": 0.5}}
    assert [training.learning_rate(spec, e, 0) for e in (0, 23, 24, 48, 49)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    spec["lr_schedule"]["decay"] = 1e-2
    assert training.learning_rate(spec, 0, 100) == 0.5


def test_monitor_logs_an_error_per_epoch_without_changing_training(tmp_path):
    x, y = _data()
    runs = {}
    for name, monitor in (("plain", None), ("monitored", (x[:50], y[:50]))):
        torch.manual_seed(0)
        model = build("softmax_regression", "mnist")
        record = training.train(model, x, y, spec=SPEC, seed=3, checkpoint=tmp_path / f"{name}.pt",
                                checkpoint_every=10, monitor=monitor)
        runs[name] = (model, record["history"])
    (plain, plain_history), (monitored, history) = runs["plain"], runs["monitored"]
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), monitored.state_dict().values()))
    assert len(history) == SPEC["epochs"] and "monitor_error" not in plain_history[0]
    assert history[-1]["monitor_error"] == error_rate(monitored, x[:50], y[:50])


def test_adversarial_objective_with_alpha_one_is_plain_training():
    x, y = _data()
    model = _Linear()
    loss, logits = objectives.adversarial(alpha=1.0, eps=0.25)(model, x, y)
    (grad,) = torch.autograd.grad(loss, model.weight)
    plain, plain_logits = objectives.weight_decay_objective()(model, x, y)
    (plain_grad,) = torch.autograd.grad(plain, model.weight)
    torch.testing.assert_close(loss, plain)
    torch.testing.assert_close(grad, plain_grad)
    torch.testing.assert_close(logits, plain_logits)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_adversarial_objective_blends_the_loss_at_a_detached_fgsm_point(alpha):
    x, y = _data()
    model = _Linear()
    loss, _ = objectives.adversarial(alpha=alpha, eps=0.25)(model, x, y)
    (grad,) = torch.autograd.grad(loss, model.weight)
    xg = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(nn.functional.cross_entropy(model(xg), y), xg, create_graph=True)
    adversarial = x + 0.25 * gx.sign()  # sign() has zero derivative: the step carries no gradient either way
    expected = alpha * nn.functional.cross_entropy(model(x), y) + (1 - alpha) * nn.functional.cross_entropy(
        model(adversarial.detach()), y)
    (expected_grad,) = torch.autograd.grad(expected, model.weight)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grad, expected_grad)
    assert model.weight.grad is None  # finding the step left the parameters' .grad alone


def test_adversarial_objective_draws_a_fresh_step_for_the_current_weights():
    x, y = _data()
    model = _Linear()
    objective = objectives.adversarial(alpha=0.0, eps=0.25)
    before, _ = objective(model, x, y)
    with torch.no_grad():
        model.weight.neg_()
    after, _ = objective(model, x, y)
    xg = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(nn.functional.cross_entropy(model(xg), y), xg)
    torch.testing.assert_close(after, nn.functional.cross_entropy(model(x + 0.25 * gx.sign()), y))
    assert not torch.allclose(before, after)


def test_adversarial_validation_early_stopping_then_retraining_from_scratch(tmp_path):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(120, 1, 28, 28, generator=gen)
    y = (x.flatten(1)[:, :10].argmax(1))  # learnable labels
    spec = {"objective": {"name": "adversarial", "alpha": 0.5, "eps": 0.1}, "epochs": 5, "batch_size": 20,
            "lr": 0.05, "momentum": 0.5,
            "protocol": {"kind": "early_stopping_retrain", "validation_fraction": 0.25, "patience": 2,
                         "validation_attack": {"eps": 0.1}}}
    torch.manual_seed(0)
    model = build("softmax_regression", "mnist")
    first = training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s1.pt", checkpoint_every=1)
    from advrepro.evaluate import fgsm_sweep  # the validation error is the FGSM error on the held-out part
    (row,) = fgsm_sweep(model, x[90:], y[90:], epsilons=[0.1])
    assert row["error"] == first["best_error"] > error_rate(model, x[90:], y[90:])
    torch.manual_seed(0)
    fresh = build("softmax_regression", "mnist")
    second = training.train(fresh, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s2.pt", checkpoint_every=1,
                            first_stage=first)
    assert second["epochs"] == first["best_epoch"] and second["steps"] == first["best_epoch"] * 6  # all 120 examples
    assert "valid_error" not in second["history"][0] and "held_out_objective" not in second["history"][0]


def _record_update_inputs(model: nn.Module) -> list:
    """The inputs of the forward passes whose output entered a parameter update: a forward hook numbers
    every pass and marks its output; a backward that reaches the parameters (loss.backward(), not the
    input gradient that finds Delta) records the input of the pass it came through."""
    passes, updates, current = [], [], [None]

    def forward_hook(module, inputs, output):
        number = len(passes)
        passes.append(inputs[0].detach().clone())
        output.register_hook(lambda grad: current.__setitem__(0, number))

    model.register_forward_hook(forward_hook)
    next(model.parameters()).register_hook(lambda grad: updates.append(passes[current[0]]))
    return updates


def test_algorithm_1_updates_only_on_the_perturbed_batch():
    """Shaham et al. 2015, Algorithm 1: theta moves with respect to x + Delta only, Delta computed in train mode."""
    torch.manual_seed(0)
    model = build("shaham_mnist_convnet", "mnist", input_normalization=True).train()
    x, y = _data()
    x, y = x[:32], y[:32]
    delta = steepest_ascent(objectives.input_gradient(model, x, y), 2, 2.0)  # train mode: BN batch statistics
    before = copy.deepcopy(model)
    updated = _record_update_inputs(model)
    optimizer = training.make_optimizer(model, {"lr": 0.01, "momentum": 0.9, "optimizer": {"kind": "sgd", "dampening": 0.9}})
    training.sgd_step(model, objectives.make_objective({"name": "robust", "p": 2, "eps": 2.0}), optimizer, x, y)
    assert len(updated) == 1
    torch.testing.assert_close(updated[0], x + delta)
    nn.functional.cross_entropy(before(x + delta), y).backward()  # the update's gradient is that of L(x + Delta)
    for theirs, ours in zip(before.parameters(), model.parameters()):
        torch.testing.assert_close(ours.grad, theirs.grad)


def test_the_training_loop_under_algorithm_1_never_updates_on_a_clean_batch(tmp_path):
    torch.manual_seed(0)
    model = build("shaham_mnist_convnet", "mnist")
    x, y = _data()
    updated = _record_update_inputs(model)
    spec = {**SPEC, "epochs": 2, "objective": {"name": "robust", "p": float("inf"), "eps": 0.2}}
    training.train(model, x, y, spec=spec, seed=1, checkpoint=tmp_path / "c.pt", checkpoint_every=10)
    assert len(updated) == 2 * -(-len(y) // spec["batch_size"])  # one update pass per minibatch
    for inputs in updated:  # each is some clean batch moved by exactly eps in every pixel
        distance = (inputs.flatten(1)[:, None] - x.flatten(1)[None]).abs().amax(2).min(1).values
        torch.testing.assert_close(distance, torch.full_like(distance, 0.2))


def test_without_shuffling_every_epoch_walks_the_examples_in_their_stored_order(tmp_path):
    x, y = _data()
    seen = []
    model = build("softmax_regression", "mnist")
    model.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0][:, 0, 0, 0].clone()))
    spec = {**SPEC, "epochs": 2, "shuffle": False}
    training.train(model, x, y, spec=spec, seed=5, checkpoint=tmp_path / "c.pt", checkpoint_every=5)
    assert torch.equal(torch.cat(seen), torch.cat([x[:, 0, 0, 0]] * 2))
    assert torch.equal(training.epoch_order(5, seed=1, epoch=3, shuffle=False), torch.arange(5))
    shuffled = [training.epoch_order(100, seed=1, epoch=e) for e in (0, 1)]
    assert not torch.equal(shuffled[0], shuffled[1]) and torch.equal(shuffled[0].sort().values, torch.arange(100))


def _two_stage_data():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(120, 1, 28, 28, generator=gen)
    return x, x.flatten(1)[:, :10].argmax(1)  # learnable labels


def test_conv_mnist_second_stage_holds_its_rates_and_stops_on_the_clean_held_out_nll(tmp_path):
    """pylearn2 mnist_continued.yaml: ChannelTarget valid_y_nll <= the stage-one model's y_nll on the first part,
    learning rate and momentum read from the stage-one monitor and held."""
    x, y = _two_stage_data()
    spec = {"objective": {"name": "plain"}, "epochs": 5, "batch_size": 20, "lr": 0.05, "momentum": 0.5,
            "momentum_schedule": {"final": 0.9, "saturate_epoch": 10},
            "lr_schedule": {"kind": "exponential", "factor": 1.01, "min_lr": 1e-4},
            "protocol": {"kind": "two_stage", "validation_fraction": 0.25, "patience": 2, "continue_max_epochs": 40,
                         "stop_on": "clean_nll", "hold": "lr_and_momentum"}}
    model = build("maxout_mlp", "mnist", units=8, pieces=2)
    first = training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s1.pt", checkpoint_every=1)
    assert first["target_kind"] == "clean_nll"
    assert first["target_objective"] == pytest.approx(training.clean_nll(model, x[:90], y[:90]))
    second = training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s2.pt", checkpoint_every=1,
                            first_stage=first)
    held_out = [h["held_out_clean_nll"] for h in second["history"]]
    assert held_out[-1] <= first["target_objective"] and all(v > first["target_objective"] for v in held_out[:-1])
    assert second["stop"].startswith("held-out clean nll reached")
    rate = training.learning_rate(spec, first["best_epoch"] - 1, first["steps_at_best"])
    assert {h["lr"] for h in second["history"]} == {rate} and rate < spec["lr"]
    assert {h["momentum"] for h in second["history"]} == {first["momentum"]}


def test_permutation_invariant_second_stage_holds_the_momentum_while_the_rate_decays_on(tmp_path):
    """pylearn2 mnist_pi_continued.yaml: init_momentum .694 held (no MomentumAdjustor), ExponentialDecay on."""
    x, y = _two_stage_data()
    spec = {"objective": {"name": "plain"}, "epochs": 3, "batch_size": 20, "lr": 0.05, "momentum": 0.5,
            "momentum_schedule": {"final": 0.9, "saturate_epoch": 10},
            "lr_schedule": {"kind": "exponential", "factor": 1.01, "min_lr": 1e-4},
            "protocol": {"kind": "two_stage", "validation_fraction": 0.25, "patience": 5, "continue_max_epochs": 3,
                         "hold": "momentum"}}
    model = build("softmax_regression", "mnist")
    first = training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s1.pt", checkpoint_every=1)
    first["target_objective"] = -1.0  # never reached: three epochs
    second = training.train(model, x, y, spec=spec, seed=0, checkpoint=tmp_path / "s2.pt", checkpoint_every=1,
                            first_stage=first)
    assert [h["momentum"] for h in second["history"]] == [first["momentum"]] * 3
    rates = [h["lr"] for h in second["history"]]
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == 3
    assert rates[0] == training.learning_rate(spec, first["best_epoch"], first["steps_at_best"] + 5)


@pytest.mark.parametrize("kind", ["sign", "uniform"])
def test_blended_noise_is_eq_6_with_a_fresh_noise_draw_in_place_of_the_adversarial_step(kind):
    x, y = _data()
    model = _Linear()
    torch.manual_seed(7)
    loss, logits = objectives.blended_noise(alpha=0.5, kind=kind, scale=0.25)(model, x, y)
    torch.manual_seed(7)
    noisy = x + objectives.NOISE[kind](x, 0.25)
    assert noisy.sub(x).abs().max() <= 0.25 + 1e-6 and not torch.equal(noisy, x)
    expected = 0.5 * nn.functional.cross_entropy(model(x), y) + 0.5 * nn.functional.cross_entropy(model(noisy), y)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logits, model(x))  # the clean half's logits, as the adversarial objective's
    plain, _ = objectives.blended_noise(alpha=1.0, kind=kind, scale=0.25)(model, x, y)
    torch.testing.assert_close(plain, nn.functional.cross_entropy(model(x), y))
    with pytest.raises(ValueError, match="alpha"):
        objectives.blended_noise(alpha=1.5)
