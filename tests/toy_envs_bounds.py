"""TightBounds-v0: asymmetric float32 action bounds that float32 arithmetic rounds past: the midpoint plus the
half-range of Box(-1.5, 0.2) is 0.20000005, and rescaling [-1, 1] onto (-3, 0.1) gives 0.10000009. Its step raises
on any action outside the space's own low/high, so a script that sends one fails at once. Use as `--env-id tests.toy_envs_bounds:TightBounds-v0`.
The reward grows with the actions, so a policy that learns pushes them to the upper bound."""

import gymnasium as gym
import numpy as np

LOW, HIGH = np.array([-1.5, -0.3, -3.0], np.float32), np.array([0.2, 0.7, 0.1], np.float32)


class TightBounds(gym.Env):
    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Box(LOW, HIGH, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

    def step(self, action):
        action = np.asarray(action)
        if action.shape != LOW.shape or not ((action >= LOW).all() and (action <= HIGH).all()):
            raise ValueError(f"action {action.tolist()!r} ({action.dtype}) is outside {self.action_space}")
        reward = float(action.sum())
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), reward, False, False, {}


gym.register("TightBounds-v0", entry_point=TightBounds, max_episode_steps=20)
