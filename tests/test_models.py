import pytest
import torch
from torch import nn

from advrepro import models
from advrepro.models import (InputConv2d, Maxout, PylearnDropout, UntiedBias, build, conv_maxout_cifar_small,
                             conv_maxout_mnist, init_irange_, input_shape, maxout_mlp, parameter_groups, project_max_norm_,
                             weight_parameters)

DATASET = {"softmax_regression": "mnist", "sigmoid_mlp": "mnist", "relu_mlp": "mnist", "maxout_mlp": "mnist",
           "conv_maxout_mnist": "mnist", "conv_maxout_cifar_small": "cifar10_gcn_zca",
           "shaham_mnist_convnet": "mnist_standardize_pad32", "vgg_bn_drop": "cifar10_yuv"}


def test_fc_maxout_takes_the_max_of_consecutive_groups():
    x = torch.tensor([[1.0, 5.0, 2.0, -1.0, -3.0, -2.0], [0.0, 0.0, 9.0, 7.0, 8.0, 6.0]])
    torch.testing.assert_close(Maxout(3)(x), torch.tensor([[5.0, -1.0], [9.0, 8.0]]))
    torch.testing.assert_close(Maxout(2)(x), torch.tensor([[5.0, 2.0, -2.0], [0.0, 9.0, 8.0]]))


def test_conv_maxout_takes_the_max_of_consecutive_channel_groups_per_position():
    x = torch.arange(2 * 6 * 2 * 2, dtype=torch.float32).reshape(2, 6, 2, 2)
    x[:, 0] += 1000.0  # channel 0 wins group 0 (channels 0-2); channel 5 wins group 1 (channels 3-5)
    out = Maxout(3)(x)
    assert out.shape == (2, 2, 2, 2)
    torch.testing.assert_close(out[:, 0], x[:, 0])
    torch.testing.assert_close(out[:, 1], x[:, 5])
    with pytest.raises(ValueError):
        Maxout(4)(x)


def _pooled_sizes(model: nn.Module, x: torch.Tensor) -> list[int]:
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:])))
             for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    model.eval()(x)
    for hook in hooks:
        hook.remove()
    assert all(h == w for h, w in sizes)
    return [h for h, _ in sizes]


@pytest.mark.parametrize("channels, padding, bias", [(1, 0, True), (3, 2, False)])
def test_input_conv_has_conv2ds_gradients_and_second_derivatives(channels, padding, bias):
    torch.manual_seed(0)
    fold = InputConv2d(channels, 4, 3, padding=padding, bias=bias).double()
    native = nn.Conv2d(channels, 4, 3, padding=padding, bias=bias).double()
    native.load_state_dict(fold.state_dict())
    x = torch.randn(1, channels, 5, 4, dtype=torch.double, requires_grad=True)
    grads = [torch.autograd.grad(layer(x).square().sum(), [x, *layer.parameters()]) for layer in (fold, native)]
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs)
    names, params = zip(*fold.named_parameters())
    as_function = lambda x, *params: torch.func.functional_call(fold, dict(zip(names, params)), (x,))  # noqa: E731
    assert torch.autograd.gradcheck(as_function, (x, *params))
    assert torch.autograd.gradgradcheck(as_function, (x, *params))  # double backprop (Lyu's eq. 4) goes through it
    with pytest.raises(ValueError, match="stride 1"):
        InputConv2d(1, 4, 3, stride=2)


def test_ceil_mode_pooling_gives_the_pylearn2_spatial_sizes():
    mnist = conv_maxout_mnist(input_shape("mnist"))
    assert _pooled_sizes(mnist, torch.zeros(2, 1, 28, 28)) == [10, 4, 3]
    assert mnist[-1].in_features == 24 * 3 * 3
    cifar = conv_maxout_cifar_small(input_shape("cifar10_gcn_zca"))
    assert _pooled_sizes(cifar, torch.zeros(2, 3, 32, 32)) == [16, 7, 5]


@pytest.mark.parametrize("architecture", sorted(DATASET))
def test_every_builder_gives_batch_by_10_logits(architecture):
    dataset = DATASET[architecture]
    model = build(architecture, dataset)
    for mode in (True, False):
        assert model.train(mode)(torch.randn(3, *input_shape(dataset))).shape == (3, 10)
    assert input_shape("cifar10_gcn_zca") == input_shape("cifar10") == (3, 32, 32)


def test_builders_take_options_and_set_paper_max_norms():
    model = build("sigmoid_mlp", "mnist", hidden=(50,))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [50, 10]
    assert all(m.max_norm == pytest.approx(15 ** 0.5) for m in linears)
    relu = build("relu_mlp", "mnist")
    assert [m.max_norm for m in relu.modules() if isinstance(m, nn.Linear)] == [3.5] * 4
    maxout = build("maxout_mlp", "mnist")
    assert [(m.out_features, m.max_norm) for m in maxout.modules() if isinstance(m, nn.Linear)] == [
        (1200, 1.9365), (1200, 1.9365), (10, 1.9365)]
    cifar = build("conv_maxout_cifar_small", "cifar10")
    assert [getattr(m, "max_norm", None) for m in cifar.modules() if isinstance(m, (nn.Conv2d, nn.Linear))] == [
        0.9, 1.9365, 1.9365, 1.9, 1.9365]
    mnist = build("conv_maxout_mnist", "mnist")
    assert [m.max_norm for m in mnist.modules() if isinstance(m, (nn.Conv2d, nn.Linear))] == [
        0.9, 1.9365, 1.9365, 1.9365]
    assert [tuple(m.bias.shape) for m in mnist.modules() if isinstance(m, UntiedBias)] == [
        (96, 21, 21), (96, 9, 9), (96, 6, 6)]


def test_project_max_norm_clips_only_the_vectors_over_the_bound():
    torch.manual_seed(0)
    linear, conv, free = nn.Linear(20, 6), nn.Conv2d(3, 4, 5), nn.Linear(20, 6)
    linear.max_norm, conv.max_norm = 1.0, 2.0
    model = nn.Sequential(conv, nn.Flatten(), linear, free)
    with torch.no_grad():
        linear.weight.mul_(10.0)
        linear.weight[:2] *= 1e-3  # rows 0 and 1 are within the bound
        conv.weight.mul_(100.0)
        conv.weight[0] *= 1e-4  # kernel 0 is within the bound
        free.weight.mul_(100.0)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    project_max_norm_(model)

    rows = linear.weight.norm(dim=1)
    assert (before["2.weight"].norm(dim=1)[2:] > 1.0).all() and (before["2.weight"].norm(dim=1)[:2] < 1.0).all()
    torch.testing.assert_close(rows[2:], torch.ones(4))
    assert torch.equal(linear.weight[:2], before["2.weight"][:2])
    kernels = conv.weight.flatten(1).norm(dim=1)
    torch.testing.assert_close(kernels[1:], torch.full((3,), 2.0))
    assert torch.equal(conv.weight[0], before["0.weight"][0])
    for name in ("3.weight", "0.bias", "2.bias", "3.bias"):  # no attribute, or not a weight: untouched
        assert torch.equal(dict(model.named_parameters())[name], before[name])
    # clipped vectors keep their direction
    torch.testing.assert_close(linear.weight[2:] * before["2.weight"].norm(dim=1)[2:, None], before["2.weight"][2:])


def test_pylearn_dropout_is_identity_in_eval_and_with_include_one():
    x = torch.randn(50, 40)
    for layer in (PylearnDropout(0.8, 1.0), PylearnDropout(0.5, 2.0)):
        assert torch.equal(layer.eval()(x), x)
    assert torch.equal(PylearnDropout(1.0, 1.0).train()(x), x)


def test_pylearn_dropout_input_layer_keeps_values_unscaled():
    torch.manual_seed(0)
    x = torch.rand(400, 500) + 0.5  # no zeros in the input
    out = PylearnDropout(0.8, 1.0).train()(x)
    kept = out != 0
    assert torch.equal(out[kept], x[kept])
    assert abs(kept.float().mean().item() - 0.8) < 0.01


def test_pylearn_dropout_hidden_layer_scales_kept_values_by_two():
    torch.manual_seed(0)
    x = torch.rand(400, 500) + 0.5
    out = PylearnDropout(0.5, 2.0).train()(x)
    kept = out != 0
    assert torch.equal(out[kept], 2 * x[kept])
    assert abs(kept.float().mean().item() - 0.5) < 0.01


def test_maxout_mlp_is_deterministic_in_eval_and_stochastic_in_train():
    torch.manual_seed(0)
    model = maxout_mlp(input_shape("mnist"), units=20)
    x = torch.rand(8, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    dropouts = [(m.include_prob, m.scale) for m in model.modules() if isinstance(m, PylearnDropout)]
    assert dropouts == [(0.8, 1.0), (0.5, 2.0), (0.5, 2.0)]


def test_parameter_groups_cover_every_parameter_once_and_scale_the_cifar_convs():
    model = conv_maxout_cifar_small(input_shape("cifar10"))
    groups = parameter_groups(model)
    grouped = [p for g in groups for p in g["params"]]
    assert len(grouped) == len({id(p) for p in grouped}) == len(list(model.parameters()))
    assert {id(p) for p in grouped} == {id(p) for p in model.parameters()}
    by_scale = {g["lr_scale"]: {id(p) for p in g["params"]} for g in groups}
    assert set(by_scale) == {0.05, 1.0}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert by_scale[0.05] == {id(p) for m in convs for p in (m.weight, m.bias)}
    torch.optim.SGD(groups, lr=0.1)  # valid optimizer param groups

    plain = parameter_groups(build("maxout_mlp", "mnist"))
    assert [g["lr_scale"] for g in plain] == [1.0]


@pytest.mark.parametrize("architecture", ["maxout_mlp", "conv_maxout_mnist", "conv_maxout_cifar_small"])
def test_maxout_models_use_irange_init(architecture):
    model = build(architecture, DATASET[architecture])
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            assert torch.equal(param, torch.zeros_like(param)), name
        else:
            assert param.abs().max() <= 0.005 and param.abs().max() > 0.004, name
    weights = weight_parameters(model)
    assert weights and all(p.dim() > 1 for p in weights)


def test_init_irange_resets_any_model():
    model = init_irange_(nn.Sequential(nn.Linear(30, 40), nn.Conv2d(2, 3, 3)), irange=0.1)
    assert all(p.abs().max() <= 0.1 for p in weight_parameters(model))
    assert all(not p.any() for name, p in model.named_parameters() if name.endswith("bias"))


def test_shaham_convnet_has_the_papers_layers_and_input_bn_only_when_robust():
    """Shaham et al. 2015, 5.1: 32 and 64 5x5 filters, pools 3x3 and 2x2, FC 200, 10 (64*2*2 from 32x32)."""
    baseline = build("shaham_mnist_convnet", "mnist_standardize_pad32")
    robust = build("shaham_mnist_convnet", "mnist_standardize_pad32", input_normalization=True)
    convs = [m for m in baseline if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (5, 5))]
    assert [(m.kernel_size, m.stride) for m in baseline if isinstance(m, nn.MaxPool2d)] == [(3, 3), (2, 2)]
    assert [(m.in_features, m.out_features) for m in baseline if isinstance(m, nn.Linear)] == [(256, 200), (200, 10)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in baseline)
    assert isinstance(robust[0], nn.BatchNorm2d) and not robust[0].affine and robust[0].num_features == 1
    assert build("shaham_mnist_convnet", "mnist")(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_vgg_bn_drop_is_cifar_torchs_and_width_scales_it():
    full = build("vgg_bn_drop", "cifar10_yuv")
    convs = [m for m in full if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert sorted({m.p for m in full if isinstance(m, nn.Dropout)}) == [0.3, 0.4, 0.5]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.4 for m in full) == 7
    assert all(b.eps == 1e-3 for b in full if isinstance(b, nn.BatchNorm2d))
    assert all(torch.equal(c.bias, torch.zeros_like(c.bias)) for c in convs)
    assert abs(convs[-1].weight.std().item() - (2 / (9 * 512)) ** 0.5) < 2e-3  # MSR init
    assert 14e6 < sum(p.numel() for p in full.parameters()) < 16e6  # cifar.torch: about 15M
    narrow = build("vgg_bn_drop", "cifar10_yuv", width=0.25)
    assert [c.out_channels for c in narrow if isinstance(c, nn.Conv2d)][0] == 16
    assert narrow.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert not any(isinstance(m, nn.Dropout) for m in build("vgg_bn_drop", "cifar10_yuv", width=0.25, dropout=False))


def test_load_trained_restores_the_weights_in_eval_mode(tmp_path):
    from advrepro import io

    spec = {"architecture": "maxout_mlp", "dataset": "mnist", "options": {"units": 8, "pieces": 2}}
    trained = build(spec["architecture"], spec["dataset"], **spec["options"])
    io.save_tensors(tmp_path / "model.pt", trained.state_dict())
    loaded = models.load_trained(spec, tmp_path / "model.pt", "cpu")
    assert not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()))
