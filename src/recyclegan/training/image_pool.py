"""History of generated images for the discriminator (Shrivastava et al.; CycleGAN's pool).

Showing D a mix of current and past fakes damps oscillation. The pool has its own random
generator so that its draws, and so a resumed run, are reproducible.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity = capacity
        self.images: list[Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: Tensor) -> Tensor:
        """Return a batch of the same shape: each image is the new one, or (once the pool is
        full, with probability 1/2) a stored past one that the new image then replaces.

        Images are kept in float32, whatever precision made them, so a pool mixes freely,
        and NaNs (from a step whose update is skipped) are stored as 0, not kept for later.
        """
        images = torch.nan_to_num(images.detach().float(), nan=0.0, posinf=1.0, neginf=-1.0)
        if self.capacity == 0:
            return images
        out = []
        for image in images:
            if len(self.images) < self.capacity:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(1, generator=self.generator).item() < 0.5:
                slot = int(torch.randint(self.capacity, (1,), generator=self.generator).item())
                out.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Tensor]:
        stored = (torch.stack(self.images).cpu() if self.images else torch.empty(0))
        return {"images": stored, "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor], device: torch.device) -> None:
        stored = state["images"]
        if stored.numel() and len(stored) > self.capacity:
            raise ValueError(f"saved pool holds {len(stored)} images, capacity is {self.capacity}")
        self.images = [image.to(device) for image in stored] if stored.numel() else []
        self.generator.set_state(state["rng"])
