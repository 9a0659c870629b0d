import pytest
import torch
from torch import nn

from advrepro import training
from advrepro.models import build

SPEC = {"objective": {"name": "plain", "weight_decay": 0.01}, "epochs": 4, "batch_size": 16, "lr": 0.1,
        "momentum": 0.9, "lr_final_fraction": 0.1}


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
    history = training.train(resumed, x, y, spec=SPEC, seed=5, checkpoint=tmp_path / "b.pt", checkpoint_every=2)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_checkpoint_of_another_spec_is_not_resumed(tmp_path):
    x, y = _data()
    model = build("softmax_regression", "mnist")
    training.train(model, x, y, spec=SPEC, seed=5, checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    history = training.train(build("softmax_regression", "mnist"), x, y, spec={**SPEC, "lr": 0.05}, seed=5,
                             checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    assert history[0]["epoch"] == 1


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_weight_decay_objective_is_cross_entropy_plus_half_lambda_squared_weights(reduction):
    x, y = _data()
    model = build("softmax_regression", "mnist")
    loss, logits = training.weight_decay_objective(0.3, reduction)(model, x, y)
    expected = nn.functional.cross_entropy(model(x), y, reduction=reduction) + 0.15 * model[1].weight.pow(2).sum()
    torch.testing.assert_close(loss, expected)
    assert logits.shape == (100, 10)


def test_diverging_run_stops_naming_the_model_and_epoch(tmp_path):
    x, y = _data()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"\[net\] training diverged at epoch 1"):
        training.train(build("softmax_regression", "mnist"), x, y, spec=SPEC, seed=0, checkpoint=tmp_path / "d.pt",
                       checkpoint_every=2, name="net")
