"""recyclegan: unsupervised video retargeting with Recycle-GAN (Bansal et al., ECCV 2018)."""

__version__ = "0.1.0"
