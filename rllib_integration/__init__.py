"""CARLA + Ray RLlib integration: ``CarlaEnv`` driven by a user ``BaseExperiment``."""

import gymnasium

gymnasium.register(id="CarlaEnv-v0", entry_point="rllib_integration.carla_env:CarlaEnv")
