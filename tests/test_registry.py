import copy

import pytest
import yaml

from advrepro import registry
from conftest import REPO

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _load(config=None, overrides=None):
    config = copy.deepcopy(config or CONFIG)
    if overrides:
        config["overrides"] = {"lyu2015": overrides}
    return registry.load(config, REPO)


def test_the_shipped_configuration_and_scales_are_valid():
    for scale in ("quick", "smoke"):
        overlay = yaml.safe_load((REPO / "config" / "scales" / f"{scale}.yaml").read_text())
        papers = _load(registry.deep_merge(CONFIG, overlay))
        assert set(papers) == set(CONFIG["papers"])


def test_unknown_global_key_names_the_key_the_file_and_the_allowed_keys():
    with pytest.raises(registry.ConfigError) as error:
        _load({**CONFIG, "scael": "quick"})
    message = str(error.value)
    assert "unknown key 'scael'" in message and "did you mean 'scale'" in message
    assert "config/config.yaml" in message and "allowed keys:" in message and "limits" in message


def test_bad_enum_value_lists_the_allowed_values():
    with pytest.raises(registry.ConfigError, match=r"'gpu' at device is not allowed; allowed values: 'auto', 'cpu', 'cuda'"):
        _load({**CONFIG, "device": "gpu"})


def test_mistyped_registry_key_names_the_paper_file_and_the_path():
    with pytest.raises(registry.ConfigError) as error:
        _load(overrides={"evaluations": {"noise": {"std": [0.1]}}})
    message = str(error.value)
    assert "config/papers/lyu2015.yaml" in message and "unknown key 'std'" in message
    assert "evaluations -> noise" in message and "stds" in message


def test_wrong_type_is_reported_with_the_expected_type():
    with pytest.raises(registry.ConfigError, match=r"'ten' at models -> softmax_wd1 -> training -> epochs has the wrong type"):
        _load(overrides={"models": {"softmax_wd1": {"training": {"epochs": "ten"}}}})


def test_an_artifact_naming_an_undefined_model_is_rejected():
    with pytest.raises(registry.ConfigError, match=r"tables -> table6 -> models names 'softmax_wd2'"):
        _load(overrides={"tables": {"table6": {"models": ["softmax_wd2"]}}})


def test_scale_limits_cap_epochs_examples_and_draws():
    config = registry.deep_merge(CONFIG, {"limits": {"max_epochs": 3, "train_examples": 50, "eval_examples": 20, "max_draws": 2}})
    papers = _load(config)
    model = registry.model_spec(config, papers["lyu2015"], "softmax_wd1")
    noise = registry.evaluation_spec(config, papers["lyu2015"], "noise", "softmax_wd1")
    perturbation = registry.evaluation_spec(config, papers["lyu2015"], "min_perturbation", "softmax_wd1")
    assert model["training"]["epochs"] == 3 and model["train_examples"] == 50
    assert noise["draws"] == 2 and noise["examples"] == 20 and perturbation["examples"] == 50
    assert papers["lyu2015"]["models"]["softmax_wd1"]["training"]["epochs"] == 100  # registry untouched


def test_an_attack_source_must_be_a_model_of_the_registry(tmp_path):
    config = {**CONFIG, "papers": ["goodfellow2014"],
              "overrides": {"goodfellow2014": {"evaluations": {"fgsm_from_adv": {"source": "maxout_2400"}}}}}
    with pytest.raises(registry.ConfigError, match="source names 'maxout_2400'.*allowed: cifar_maxout"):
        _load(config)


def test_an_adversarial_set_evaluation_must_name_a_defined_set():
    config = {**copy.deepcopy(CONFIG), "papers": ["shaham2015"]}
    config["overrides"] = {"shaham2015": {"evaluations": {"on_a_mnist": {"set": "a_svhn"}}}}
    with pytest.raises(registry.ConfigError, match=r"evaluations -> on_a_mnist: .*allowed: a_cifar10, a_mnist"):
        registry.load(config, REPO)
    config["overrides"] = {"shaham2015": {"adversarial_sets": {"a_mnist": {"model": "nope"}}}}
    with pytest.raises(registry.ConfigError, match=r"adversarial_sets -> a_mnist -> model names 'nope'"):
        registry.load(config, REPO)
