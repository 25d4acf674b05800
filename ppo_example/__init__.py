"""PPO example: continuous-control driving on BirdView + state observations."""
