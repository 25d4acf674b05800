"""The DQN example: a BirdView-driven DQN experiment for ``CarlaEnv``."""
