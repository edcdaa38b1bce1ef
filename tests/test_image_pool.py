import torch

from recyclegan.training.image_pool import ImagePool


def test_zero_capacity_passes_through():
    pool = ImagePool(0, seed=0)
    images = torch.randn(3, 3, 4, 4)
    assert torch.equal(pool.query(images), images)


def test_fills_then_mixes_past_and_new():
    pool = ImagePool(4, seed=0)
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: everything passes through
    new = torch.arange(100.0, 300.0).view(200, 1, 1, 1).expand(200, 3, 2, 2)
    out = pool.query(new)
    from_past = (out[:, 0, 0, 0] != new[:, 0, 0, 0]).sum().item()
    assert 60 < from_past < 140  # about half come from the history
    assert len(pool.images) == 4


def test_state_round_trip_reproduces_draws():
    pool = ImagePool(3, seed=5)
    pool.query(torch.randn(5, 3, 2, 2))
    state = pool.state_dict()
    batch = torch.randn(6, 3, 2, 2)
    expected = pool.query(batch)
    other = ImagePool(3, seed=99)
    other.load_state_dict(state, torch.device("cpu"))
    assert torch.equal(other.query(batch), expected)
