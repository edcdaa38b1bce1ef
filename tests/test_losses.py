import pytest
import torch

from recyclegan import losses


def test_reconstruction_l1_and_l2():
    out = torch.tensor([[1.0, -1.0], [0.5, 0.0]])
    target = torch.zeros(2, 2)
    assert losses.reconstruction(out, target, "l1").item() == pytest.approx(2.5 / 4)
    assert losses.reconstruction(out, target, "l2").item() == pytest.approx(2.25 / 4)
    with pytest.raises(ValueError):
        losses.reconstruction(out, target, "l0")


def test_lsgan_targets():
    scores = torch.tensor([0.0, 1.0, 2.0])
    assert losses.lsgan(scores, True).item() == pytest.approx((1 + 0 + 1) / 3)
    assert losses.lsgan(scores, False).item() == pytest.approx((0 + 1 + 4) / 3)
    assert losses.adversarial(scores).item() == losses.lsgan(scores, True).item()


def test_discriminator_loss_is_half_the_sum():
    real, fake = torch.ones(4), torch.zeros(4)
    assert losses.discriminator(real, fake).item() == 0.0
    assert losses.discriminator(fake, real).item() == pytest.approx(1.0)


def test_temporal_terms_compare_with_the_next_frame():
    real_next = torch.ones(1, 3, 4, 4)
    assert losses.recurrent(torch.zeros(1, 3, 4, 4), real_next).item() == 1.0
    assert losses.recycle(real_next.clone(), real_next).item() == 0.0
    assert losses.cycle(-real_next, real_next, "l2").item() == 4.0
    assert losses.identity(real_next, real_next).item() == 0.0
