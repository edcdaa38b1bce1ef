"""Throughput measurements behind `recyclegan bench` and the scripts in benchmarks/.

common.py holds the variants (precision, memory layout, compilation) and the device helpers;
training.py times `Trainer.train_step` and counts its FLOPs; inference.py times the generator
alone and `retarget_file` end to end; suite.py runs both for one configuration; report.py
formats the results as markdown or a rich table.
"""
