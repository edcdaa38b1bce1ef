"""One Recycle-GAN training step (a generator update, then a discriminator update) and the
state that makes a run resumable."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from recyclegan.config import LossWeights, TrainConfig
from recyclegan.devices import autocast_dtype, memory_format
from recyclegan.distributed import Distributed
from recyclegan.models import Networks
from recyclegan.training.image_pool import ImagePool
from recyclegan.training.objective import DiscriminatorObjective, GeneratorObjective
from recyclegan.training.rng import rng_state, set_rng_state

# torch.compile's backend; tests swap in "eager" to check recompilation without codegen.
COMPILE_BACKEND = "inductor"


def frames_to_model(batch: Tensor, device: torch.device,
                    layout: torch.memory_format = torch.contiguous_format) -> list[Tensor]:
    """uint8 windows (B, 3 frames, 3, H, W) -> three float frames in [-1, 1] on `device`."""
    windows = batch.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return [frame.contiguous(memory_format=layout) for frame in windows.unbind(1)]


def _set_requires_grad(modules: list[nn.Module], flag: bool) -> None:
    for module in modules:
        module.requires_grad_(flag)


def _nonfinite(losses: list[Tensor], optimizer: torch.optim.Optimizer) -> Tensor:
    """1.0 (on the device) when a loss or a gradient of `optimizer`'s parameters is NaN or
    infinite, else 0.0; fused Adam takes it as `found_inf` and then leaves every parameter
    and moment as it was."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None]
    if grads and grads[0].device.type == "cpu":
        # A NaN or an infinity carries through a sum as through a norm, and a sum reads the
        # gradients at memory speed: half the time of _foreach_norm on the CPU (15 against
        # 31 ms for the paper networks' 99M generator-side gradients).
        reductions = [grad.sum() for grad in grads]
    else:
        reductions = list(torch._foreach_norm(grads))  # one multi-tensor kernel on CUDA
    values = torch.stack([loss.detach().float() for loss in losses]
                         + [value.float() for value in reductions])
    return (~torch.isfinite(values).all()).float()


class Trainer:
    """The networks, their optimisers and image pools, and the fast path of `cfg`: bf16
    autocast, channels_last, torch.compile and fused Adam.

    A step whose losses or gradients are not finite changes nothing: fused Adam's `found_inf`
    skips the update on the device, without a host synchronisation, and the step reports it
    in `nonfinite/generators` and `nonfinite/discriminators` for the caller to act on."""

    def __init__(self, networks: Networks, weights: LossWeights, cfg: TrainConfig,
                 device: torch.device, dist: Distributed | None = None) -> None:
        self.layout = memory_format(cfg.channels_last, device)
        self.networks = networks.to(device, memory_format=self.layout)
        self.weights, self.cfg, self.device = weights, cfg, device
        self.amp_dtype = autocast_dtype(cfg.precision, device)
        if cfg.compile:
            for network in networks.children():
                # One graph per input shape; the step uses a handful, so none recompiles later.
                network.compile(backend=COMPILE_BACKEND, dynamic=False)
        betas = (cfg.beta1, cfg.beta2)
        fused = True  # one kernel for all parameters, and found_inf skips a bad update
        gen_params = itertools.chain(*(m.parameters() for m in networks.generator_side()))
        disc_params = itertools.chain(*(m.parameters() for m in networks.discriminator_side()))
        self.opt_g = torch.optim.Adam(gen_params, lr=cfg.lr, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(disc_params, lr=cfg.lr, betas=betas, fused=fused)
        self.dist = dist or Distributed()
        self._generator_objective = GeneratorObjective(networks, weights)
        self.generator_objective: nn.Module = self._generator_objective
        self.discriminator_objective: nn.Module = DiscriminatorObjective(networks)
        if self.dist.enabled:  # gradients averaged over ranks, weights broadcast from rank 0
            self.generator_objective = DistributedDataParallel(self.generator_objective)
            self.discriminator_objective = DistributedDataParallel(self.discriminator_objective)
        # pool_a holds fakes in domain A (made by gen_ba) for disc_a, and so on.
        self.pool_a = ImagePool(cfg.pool_size, seed=cfg.seed + 1_000)
        self.pool_b = ImagePool(cfg.pool_size, seed=cfg.seed + 2_000)
        self.step = 0

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _pool(self, pool: ImagePool, fakes: Tensor, frames: int) -> Tensor:
        """This rank's share of what the pool returns for the global batch's fakes; every rank
        keeps the same pool, as one process would."""
        everyone = self.dist.gather_frames(fakes.detach(), frames)
        return self.dist.local_frames(pool.query(everyone), frames)

    def train_step(self, batch_a: Tensor, batch_b: Tensor) -> dict[str, Tensor]:
        """One update of G (+P) then D. Returns detached losses; nothing here syncs the host."""
        lr = self.cfg.lr_at(self.step)
        for group in itertools.chain(self.opt_g.param_groups, self.opt_d.param_groups):
            group["lr"] = lr
        real_a = frames_to_model(batch_a, self.device, self.layout)
        real_b = frames_to_model(batch_b, self.device, self.layout)
        batch_size = len(real_a[0])
        n = self.networks

        discs = n.discriminator_side()
        _set_requires_grad(discs, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            loss_g, pass_a, pass_b = self.generator_objective(real_a, real_b, n.disc_a, n.disc_b)
        loss_g.backward()
        terms_g = [loss_g, *pass_a.terms.values(), *pass_b.terms.values()]
        bad_g = _nonfinite(terms_g, self.opt_g)
        self.opt_g.found_inf = bad_g
        self.opt_g.step()

        _set_requires_grad(discs, True)
        self.opt_d.zero_grad(set_to_none=True)
        frames = len(pass_a.fakes) // batch_size
        reals_a = torch.cat(real_a[:frames])
        reals_b = torch.cat(real_b[:frames])
        # The pools hand back NCHW tensors; D's first convolution wants the step's layout.
        fakes_b = self._pool(self.pool_b, pass_a.fakes, frames).contiguous(
            memory_format=self.layout)
        fakes_a = self._pool(self.pool_a, pass_b.fakes, frames).contiguous(
            memory_format=self.layout)
        with self._autocast():
            loss_d_a, loss_d_b = self.discriminator_objective(reals_a, fakes_a, reals_b, fakes_b,
                                                              batch_size)
        (loss_d_a + loss_d_b).backward()
        bad_d = _nonfinite([loss_d_a, loss_d_b], self.opt_d)
        self.opt_d.found_inf = bad_d
        self.opt_d.step()
        self.step += 1

        logged = {"loss/g_total": loss_g.detach(), "loss/d_a": loss_d_a.detach(),
                  "loss/d_b": loss_d_b.detach(), "nonfinite/generators": bad_g,
                  "nonfinite/discriminators": bad_d}
        for direction, result in (("a2b", pass_a), ("b2a", pass_b)):
            for name, value in result.terms.items():
                logged[f"{direction}/{name}"] = value.detach()
        return logged

    @torch.no_grad()
    def sample_images(self, window_a: Tensor, window_b: Tensor) -> list[dict[str, Tensor]]:
        """Intermediate images of both directions for one uint8 window per domain."""
        real_a = frames_to_model(window_a[None], self.device, self.layout)
        real_b = frames_to_model(window_b[None], self.device, self.layout)
        n = self.networks
        with self._autocast():
            _, pass_a, pass_b = self._generator_objective(real_a, real_b, n.disc_a, n.disc_b)
        return [{name: image.float() for name, image in images.items()}
                for images in (pass_a.images, pass_b.images)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "pool_a": self.pool_a.state_dict(),
            "pool_b": self.pool_b.state_dict(),
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.pool_a.load_state_dict(state["pool_a"], self.device)
        self.pool_b.load_state_dict(state["pool_b"], self.device)
        set_rng_state(state["rng"])
