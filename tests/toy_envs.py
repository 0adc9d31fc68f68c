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


CLIMB_COST, TOP_REWARD = 2.0, 1.0


class Climb(gym.Env):
    """An environment whose final and reset observations differ, and whose agent's choice depends on which of the two
    a truncated episode bootstraps from. The observation is the agent's height: 0 at the bottom, where every episode
    starts, and 1 at the top. At the bottom, action 0 ("stay") ends the episode (terminated) with reward 0 and action
    1 ("climb") costs CLIMB_COST and leads to the top; at the top every action pays TOP_REWARD and stays there. A
    TimeLimit truncates every episode after 2 steps: one climbing episode ends at the top, truncated.

    With gamma = 0.95:
    - bootstrapping through the truncation from the TRUE final observation (the top, correct): V(top) =
      TOP_REWARD / (1 - gamma) = 20, climbing is worth -2 + 0.95 * 20 = 17 > 0, so the agent learns to climb and a
      deterministic episode returns -2 + 1 = -1;
    - from the reset observation (the bottom, what gymnasium's SAME_STEP autoreset returns): V(top) = 1 + 0.95 V(bottom)
      and V(bottom) = 0 once the agent stays, climbing is worth -2 + 0.95 * 1 < 0: it stays, returns 0;
    - treating the truncation as termination: V(top) = 1, the same: it stays, returns 0.
    """

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.height = 0.0
        return np.array([self.height], np.float32), {}

    def step(self, action):
        if self.height == 1.0:
            return np.array([1.0], np.float32), TOP_REWARD, False, False, {}
        if int(action) == 0:
            return np.array([0.0], np.float32), 0.0, True, False, {}
        self.height = 1.0
        return np.array([1.0], np.float32), -CLIMB_COST, False, False, {}


gym.register("Climb-v0", entry_point=Climb, max_episode_steps=TIME_LIMIT)
