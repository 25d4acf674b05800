"""Training plumbing shared by the examples' ``*_train.py`` scripts.

Each module has one job: ``yaml_config`` (strict training yaml), ``preflight`` (config errors
found before Ray starts), ``ray_logging`` (Ray's output into a log file), ``callbacks``
(driving metrics), ``progress`` (one console line per iteration), ``curves`` (the learning
curve PNG), ``tune_run`` (the Tune driver tying them together), ``algorithm_config`` (the
shared yaml sections onto an ``AlgorithmConfig``), ``rl_modules`` (model config, weights and
checkpoints of the examples' RL modules) and ``exported_network`` (the Ray-free file of an
exported network). Nothing here imports an example package: the examples pass their schema,
algorithm and hooks in.
"""
