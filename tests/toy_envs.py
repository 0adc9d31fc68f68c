"""Tiny environments for the tests, usable from any script as `--env-id tests.toy_envs:ID`.

StopOrGo-v0 separates agents that bootstrap through a time-limit truncation from agents that treat
it as termination. The observation never changes. Action 0 ("stop") pays 1 and terminates; action 1
("go") pays 0.2 and continues; a TimeLimit truncates every episode after 2 steps.

- Bootstrapping through truncation (correct): the state after "go" is the same state, so
  V = 0.2 / (1 - gamma) when always going; with gamma = 0.95 that is 4 > 1, so the agent learns "go"
  and a deterministic episode returns 2 * 0.2 = 0.4.
- Treating truncation as termination (wrong): the expected return of going with probability p is
  (1 + p)(1 - 0.8 p) = 1 + 0.2 p - 0.8 p^2, maximal at p = 0.125, so the agent learns "stop" and a
  deterministic episode returns 1.0.
"""

import gymnasium as gym
import numpy as np

STOP_REWARD = 1.0
GO_REWARD = 0.2
TIME_LIMIT = 2


class StopOrGo(gym.Env):
    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        stop = int(action) == 0
        reward = STOP_REWARD if stop else GO_REWARD
        return np.zeros(1, np.float32), reward, stop, False, {}


gym.register("StopOrGo-v0", entry_point=StopOrGo, max_episode_steps=TIME_LIMIT)


class AlwaysStop(StopOrGo):
    """StopOrGo whose every step ends the episode: with one environment, every other step of a batch is gymnasium's
    autoreset step, which is no transition."""

    def step(self, action):
        obs, reward, _, truncated, info = super().step(action)
        return obs, reward, True, truncated, info


gym.register("AlwaysStop-v0", entry_point=AlwaysStop, max_episode_steps=TIME_LIMIT)


class ShiftedActions(StopOrGo):
    """StopOrGo with the actions numbered 1 and 2 (Discrete(2, start=1)), which the scripts refuse: a categorical
    policy samples 0 and 1. Only for the input checks (it is never stepped)."""

    def __init__(self):
        super().__init__()
        self.action_space = gym.spaces.Discrete(2, start=1)


gym.register("ShiftedActions-v0", entry_point=ShiftedActions, max_episode_steps=TIME_LIMIT)
