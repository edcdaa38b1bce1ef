"""The six networks of Recycle-GAN and the factories that build them from a `ModelConfig`."""

from __future__ import annotations

from torch import nn

from recyclegan.config import ModelConfig
from recyclegan.models.discriminator import PatchDiscriminator
from recyclegan.models.generator import ResnetGenerator
from recyclegan.models.predictor import UnetPredictor

__all__ = [
    "Networks", "PatchDiscriminator", "ResnetGenerator", "UnetPredictor",
    "build_discriminator", "build_generator", "build_networks", "build_predictor",
]


def build_generator(cfg: ModelConfig) -> ResnetGenerator:
    return ResnetGenerator(channels=cfg.gen_channels, blocks=cfg.gen_blocks)


def build_predictor(cfg: ModelConfig) -> UnetPredictor:
    if cfg.pred_depth is None:
        raise ValueError("ModelConfig.pred_depth must be resolved (predictor_depth_for) first")
    return UnetPredictor(channels=cfg.pred_channels, depth=cfg.pred_depth)


def build_discriminator(cfg: ModelConfig) -> PatchDiscriminator:
    return PatchDiscriminator(channels=cfg.disc_channels, layers=cfg.disc_layers)


class Networks(nn.Module):
    """All networks of a run, named by direction. Predictors are None when no loss uses them.

    Its state_dict keys (`gen_ab.net.0...`) are the checkpoint's tensor names.
    """

    def __init__(self, gen_ab: ResnetGenerator, gen_ba: ResnetGenerator,
                 disc_a: PatchDiscriminator, disc_b: PatchDiscriminator,
                 pred_a: UnetPredictor | None = None, pred_b: UnetPredictor | None = None) -> None:
        super().__init__()
        self.gen_ab, self.gen_ba = gen_ab, gen_ba
        self.disc_a, self.disc_b = disc_a, disc_b
        self.pred_a, self.pred_b = pred_a, pred_b

    def generator_side(self) -> list[nn.Module]:
        """What the generator optimiser trains: both generators and both predictors."""
        return [m for m in (self.gen_ab, self.gen_ba, self.pred_a, self.pred_b) if m is not None]

    def discriminator_side(self) -> list[nn.Module]:
        return [self.disc_a, self.disc_b]


def build_networks(cfg: ModelConfig, with_predictors: bool = True) -> Networks:
    return Networks(
        gen_ab=build_generator(cfg), gen_ba=build_generator(cfg),
        disc_a=build_discriminator(cfg), disc_b=build_discriminator(cfg),
        pred_a=build_predictor(cfg) if with_predictors else None,
        pred_b=build_predictor(cfg) if with_predictors else None,
    )
