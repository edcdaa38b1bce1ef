"""Using a trained run: load a generator, translate frames, retarget files, export."""
