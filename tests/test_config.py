import pytest

from recyclegan.config import (
    MODEL_SIZES,
    PRESETS,
    ConfigError,
    LossWeights,
    ModelConfig,
    TrainConfig,
    build_config,
    changed_fields,
    config_from_dict,
    merge_overrides,
    read_yaml,
    write_yaml,
)


def test_presets_are_one_model_with_different_weights():
    assert PRESETS["recycle"].uses_predictor and PRESETS["recycle"].cycle == 0
    assert PRESETS["recycle+cycle"].uses_predictor and PRESETS["recycle+cycle"].cycle == 10
    cycle = PRESETS["cycle"]
    assert not cycle.uses_predictor
    assert (cycle.recurrent, cycle.recycle, cycle.cycle) == (0, 0, 10)


def test_paper_defaults():
    config = build_config()
    assert config.model == MODEL_SIZES["paper"]
    assert (config.model.gen_blocks, config.model.gen_channels) == (6, 64)
    assert config.losses.reconstruction == "l1"
    assert (config.train.lr, config.train.beta1, config.train.beta2) == (2e-4, 0.5, 0.999)


def test_overrides_apply_on_top_of_presets():
    config = build_config(overrides={"model_size": "small", "preset": "cycle",
                                     "losses": {"identity": 5}, "train": {"lr": "1e-4"}})
    assert config.model == MODEL_SIZES["small"]
    assert config.losses.cycle == 10 and config.losses.identity == 5.0
    assert config.train.lr == 1e-4  # YAML reads 1e-4 as a string; it is accepted as a number


@pytest.mark.parametrize("overrides, fragment", [
    ({"train": {"stepz": 3}}, "unknown setting 'train.stepz'"),
    ({"trian": {}}, "unknown config section 'trian'"),
    ({"train": {"steps": 0}}, "train.steps must be at least 1"),
    ({"train": {"steps": 2.5}}, "'train.steps' must be a int"),
    ({"losses": {"recycle": -1}}, "losses.recycle must be a finite number >= 0"),
    ({"losses": {"reconstruction": "l3"}}, "'l1' or 'l2'"),
    ({"data": {"flip": "yes"}}, "'data.flip' must be true or false"),
    ({"model_size": "huge"}, "unknown model size 'huge'"),
    ({"preset": "recyclegan"}, "unknown preset"),
    ({"train": {"device": "tpu"}}, "train.device must be auto, cpu or cuda"),
])
def test_bad_settings_are_refused_with_their_name(overrides, fragment):
    with pytest.raises(ConfigError, match=None) as info:
        build_config(overrides=overrides)
    assert fragment in str(info.value)


def test_lr_constant_then_linear_decay_to_zero():
    cfg = TrainConfig(steps=10, lr=1.0)
    assert [cfg.lr_at(s) for s in range(10)] == pytest.approx(
        [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2])
    explicit = TrainConfig(steps=10, lr=1.0, lr_decay_start=8)
    assert explicit.lr_at(7) == 1.0 and explicit.lr_at(9) == pytest.approx(0.5)


def test_predictor_depth_follows_image_size():
    paper = MODEL_SIZES["paper"]
    assert paper.predictor_depth_for(256) == 8  # U-Net-256 of the paper
    assert paper.predictor_depth_for(128) == 7
    assert paper.predictor_depth_for(96) == 5
    assert MODEL_SIZES["tiny"].predictor_depth_for(64) == 4


@pytest.mark.parametrize("size, fragment", [(30, "not a multiple of 4"), (20, "too small")])
def test_sizes_the_networks_cannot_take(size, fragment):
    with pytest.raises(ConfigError) as info:
        ModelConfig().check_image_size(size)
    assert fragment in str(info.value)


def test_yaml_round_trip(tmp_path):
    config = build_config(overrides={"preset": "recycle+cycle", "train": {"steps": 7}})
    write_yaml(config, tmp_path / "config.yaml")
    assert config_from_dict(read_yaml(tmp_path / "config.yaml")) == config


def test_bad_yaml_files(tmp_path):
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "broken.yaml").write_text("train: {steps: [\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml(tmp_path / "missing.yaml")


def test_merge_and_diff():
    base = build_config()
    merged = merge_overrides(base.to_dict(), {"train": {"steps": 5}, "losses": {"cycle": 1.0}})
    assert merged["train"]["lr"] == base.train.lr
    assert changed_fields(base, config_from_dict(merged)) == ["losses.cycle", "train.steps"]


def test_adversarial_weight_cannot_be_zero():
    with pytest.raises(ConfigError, match="adversarial"):
        LossWeights(adversarial=0)
