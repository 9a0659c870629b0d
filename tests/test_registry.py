import copy
import shutil

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
    for scale in ("quick", "smoke", "probe"):
        overlay = yaml.safe_load((REPO / "config" / "scales" / f"{scale}.yaml").read_text())
        papers = _load(registry.deep_merge(CONFIG, overlay))
        assert set(papers) == {p.stem for p in (REPO / "config" / "papers").glob("*.yaml")}


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


def test_the_probe_scale_keeps_every_paper_setting_and_bounds_only_the_steps():
    """config/scales/probe.yaml: each model's entry is the paper scale's, with max_steps added; no overrides."""
    overlay = yaml.safe_load((REPO / "config" / "scales" / "probe.yaml").read_text())
    assert "overrides" not in overlay and overlay["limits"]["train_examples"] is None
    probe_config = registry.deep_merge(CONFIG, overlay)
    paper, probe = _load(), _load(probe_config)
    for key, entries in paper.items():
        for model in entries["models"]:
            spec = registry.model_spec(probe_config, probe[key], model)
            assert spec["training"].pop("max_steps") == overlay["limits"]["max_steps"]
            assert spec == registry.model_spec(CONFIG, entries, model), model
    assert "max_steps" not in registry.model_spec(CONFIG, paper["lyu2015"], "maxout")["training"]
    line_search = registry.evaluation_spec(probe_config, probe["lyu2015"], "min_perturbation", "softmax_wd1")
    assert line_search["examples"] == overlay["limits"]["eval_examples"]  # a probed evaluation sees a few examples
    assert registry.evaluation_spec(CONFIG, paper["lyu2015"], "min_perturbation", "softmax_wd1")["examples"] is None


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


def _root_with(tmp_path, paper: str, text: str):
    """A repository root whose registry `paper` is `text` (the schemas and the scorecard's rules copied from the
    checkout)."""
    shutil.copytree(REPO / "workflow" / "schemas", tmp_path / "workflow" / "schemas")
    (tmp_path / "config" / "papers").mkdir(parents=True)
    shutil.copy(REPO / registry.FIDELITY, tmp_path / registry.FIDELITY)
    (tmp_path / "config" / "papers" / f"{paper}.yaml").write_text(text)
    return tmp_path


def test_a_yaml_syntax_error_names_the_registry_file_and_line(tmp_path):
    text = (REPO / "config/papers/tanay2016.yaml").read_text().replace("pairs: all ", "pairs: [all ", 1)
    root = _root_with(tmp_path, "tanay2016", text)
    with pytest.raises(registry.ConfigError, match=r"^config/papers/tanay2016\.yaml, line \d+, column \d+: "):
        registry.load({**copy.deepcopy(CONFIG), "papers": ["tanay2016"]}, root)


def test_a_key_given_twice_is_rejected_naming_the_file(tmp_path):
    text = (REPO / "config/papers/tanay2016.yaml").read_text().replace("  hinge: mean\n", "  hinge: mean\n  hinge: sum\n")
    root = _root_with(tmp_path, "tanay2016", text)
    with pytest.raises(registry.ConfigError, match=r"config/papers/tanay2016\.yaml, line \d+, .*duplicate key 'hinge'"):
        registry.load({**copy.deepcopy(CONFIG), "papers": ["tanay2016"]}, root)


def test_an_error_in_the_overrides_of_a_scale_file_is_blamed_on_that_file(tmp_path):
    scale = tmp_path / "my-scale.yaml"
    scale.write_text("overrides:\n  lyu2015:\n    models:\n      maxout: {training: {epochs: ten}}\n")
    config = registry.deep_merge(CONFIG, yaml.safe_load(scale.read_text()))
    with pytest.raises(registry.ConfigError, match=rf"overrides -> lyu2015 in {scale} \(over config/papers/lyu2015\.yaml\)"
                                                   r": 'ten' at models -> maxout -> training -> epochs"):
        registry.load(config, REPO, [scale])


def test_an_override_of_an_unknown_model_names_the_scale_file_and_a_close_match(tmp_path):
    scale = tmp_path / "my-scale.yaml"
    scale.write_text("overrides:\n  lyu2015:\n    models:\n      maxuot: {training: {epochs: 2}}\n")
    config = registry.deep_merge(CONFIG, yaml.safe_load(scale.read_text()))
    with pytest.raises(registry.ConfigError, match=rf"{scale} .*unknown model 'maxuot' at models \(did you mean 'maxout'\?\)"):
        registry.load(config, REPO, [scale])


def test_a_scale_file_with_a_key_given_twice_is_rejected(tmp_path):
    scale = tmp_path / "my-scale.yaml"
    scale.write_text("scale: quick\nlimits: {max_epochs: 2}\nscale: smoke\n")
    with pytest.raises(registry.ConfigError, match=rf"{scale}, line 3, .*duplicate key 'scale'"):
        registry.load(copy.deepcopy(CONFIG), REPO, [scale])


def test_config_text_is_read_as_yaml_where_the_schema_needs_it():
    """`--config report_pdf=true synthetic_cifar10=true limits='{max_epochs: 2}'` as Snakemake passes them."""
    config = registry.deep_merge(CONFIG, {"report_pdf": "true", "synthetic_cifar10": "true",
                                          "limits": {"max_epochs": "2"}, "scale": "quick"})
    registry.load(config, REPO)
    assert config["report_pdf"] is True and config["synthetic_cifar10"] is True
    assert config["limits"]["max_epochs"] == 2 and config["scale"] == "quick"
    with pytest.raises(registry.ConfigError, match=r"'two' at limits -> max_epochs has the wrong type.*--configfile overlay"):
        registry.load(registry.deep_merge(CONFIG, {"limits": {"max_epochs": "two"}}), REPO)


@pytest.mark.parametrize("override, message", [
    ({"models": {"maxout": {"options": {"unit": 100}}}},
     r"unknown key 'unit' \(did you mean 'units'\?\) for architecture 'maxout_mlp'; allowed keys: .*units.* at models -> maxout"),
    ({"models": {"maxout": {"architecture": "maxout"}}}, r"unknown architecture 'maxout' \(did you mean 'maxout_mlp'\?\)"),
    ({"models": {"maxout_grad_p2": {"training": {"objective": {"form": "double_back"}}}}},
     r"'double_back' at form is not allowed; allowed values: 'perturbation', 'double_backprop'"),
    ({"models": {"maxout": {"training": {"protocol": {"patience": "ten"}}}}}, r"'ten' at patience has the wrong type"),
    ({"models": {"softmax_wd1": {"training": {"lr_schedule": {"kind": "exponential"}}}}}, r"lr_schedule 'exponential' needs 'factor'"),
    ({"models": {"maxout": {"dataset": "mnist_gcn"}}}, r"unknown preprocessing 'gcn' .*at models -> maxout -> dataset"),
    ({"evaluations": {"noise": {"kind": "gaussian"}}}, r"unknown evaluation kind 'gaussian' \(did you mean 'gaussian_noise'\?\)"),
    ({"tables": {"table1": {"builder": "lenet_curves_figure"}}}, r"unknown builder 'lenet_curves_figure' at tables -> table1"),
])
def test_kind_names_and_options_are_checked_against_the_registered_signatures(override, message):
    """The registry's kinds are checked against advrepro.kinds registrations (no enums to keep in step)."""
    with pytest.raises(registry.ConfigError, match=message):
        _load(overrides=override)


def test_an_evaluation_kind_of_another_paper_is_refused():
    with pytest.raises(registry.ConfigError, match=r"'targeted_cyclic' belongs to advrepro.papers.tanay2016"):
        _load(overrides={"evaluations": {"clean": {"kind": "targeted_cyclic", "level": 0.9, "step": 1.0,
                                                   "max_steps": 10}}})


def test_report_pdf_true_without_latexmk_stops_at_start_up():
    config = {**copy.deepcopy(CONFIG), "report_pdf": True}
    with pytest.raises(registry.ConfigError, match="report_pdf=true needs latexmk, which is not installed"):
        registry.check_tools(config, which=lambda program: None)
    registry.check_tools(config, which=lambda program: f"/usr/bin/{program}")
    registry.check_tools({**config, "report_pdf": "auto"}, which=lambda program: None)


# --- a cross-paper registry (config/papers/today.yaml): other papers' models as <paper>/<model> ------------


def test_today_attacks_every_trained_model_of_every_paper():
    papers = _load()
    named = set(papers["today"]["tables"]["robustness_today"]["models"])
    every = {f"{key}/{model}" for key, entries in papers.items() if key != "today" for model in entries["models"]}
    assert named == every | set(papers["today"]["models"]) - {m for m in papers["today"]["models"] if "/" in m}
    assert set(papers["today"]["figures"]["attack_curves"]["models"]) == named


def test_an_imported_model_is_its_papers_entry_with_that_papers_overrides():
    quick = registry.deep_merge(CONFIG, yaml.safe_load((REPO / "config" / "scales" / "quick.yaml").read_text()))
    papers = _load(quick)
    assert papers["today"]["models"]["goodfellow2014/maxout"] == papers["goodfellow2014"]["models"]["maxout"]
    assert papers["today"]["models"]["goodfellow2014/maxout"]["training"]["epochs"] == 10  # quick's override
    spec = registry.model_spec(quick, papers["today"], "shaham2015/robust_l2")
    assert spec == registry.model_spec(quick, papers["shaham2015"], "robust_l2")


def test_a_model_of_a_paper_outside_the_run_or_unknown_is_refused():
    with pytest.raises(registry.ConfigError, match=r"it names models of goodfellow2014 \(e.g. 'goodfellow2014/\w+'\), "
                                                   r"not in this run; add goodfellow2014 to papers"):
        _load({**CONFIG, "papers": ["lyu2015", "shaham2015", "tanay2016", "today"]})
    config = {**CONFIG, "overrides": {"today": {"tables": {"claims_today": {"models": ["lyu2015/maxout_grad_p7"]}}}}}
    with pytest.raises(registry.ConfigError, match=r"lyu2015 has no model 'maxout_grad_p7' \(did you mean "
                                                   r"'maxout_grad_p\d'\?\)"):
        _load(config)


def test_the_model_owner_of_a_name():
    assert registry.model_owner("today", "lyu2015/maxout") == ("lyu2015", "maxout")
    assert registry.model_owner("today", "masked_softmax") == ("today", "masked_softmax")
