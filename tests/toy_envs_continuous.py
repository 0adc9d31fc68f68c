"""Tiny continuous-action environment for the off-policy tests, usable from any script as
`--env-id tests.toy_envs_continuous:StepCount-v0`.

StepCount-v0 makes every transition recognizable, so a test can read a replay buffer and tell a real
transition from gymnasium's autoreset step and a true final observation from a reset one:

- the observation is [t], the number of steps taken in the episode: 0 after reset, t >= 1 after any
  step, so no final observation looks like a reset observation;
- the reward of a step is the new t, so r = s'[0] = s[0] + 1 for every real transition, whereas the
  autoreset step "goes" from the final t back to 0 with reward 0;
- the action space is asymmetric, low = [-1, 0], high = [3, 0.5]; the episode terminates when
  a[0] > TERMINATE_ABOVE (a quarter of uniformly random actions) and is truncated by a TimeLimit after
  TIME_LIMIT steps, so random play yields both kinds of episode end.

MatrixAction-v0, UnboundedAction-v0, ZeroWidthAction-v0 and MatrixObservation-v0 are StepCount-v0 with a space
that the scripts refuse (a 2x1 action matrix, infinite action bounds, an action dimension with low == high, a 1x1
observation matrix). KilledPendulum-v0 is Pendulum-v1 that kills its process partway through a run.
"""

import os
import signal

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.pendulum import PendulumEnv

TIME_LIMIT = 5
TERMINATE_ABOVE = 2.0


class StepCount(gym.Env):
    def __init__(self, render_mode=None):  # the scripts' make_env passes render_mode; nothing renders
        self.observation_space = gym.spaces.Box(0.0, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([3.0, 0.5], np.float32))
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([self.t], np.float32), {}

    def step(self, action):
        self.t += 1
        terminated = bool(action[0] > TERMINATE_ABOVE)
        return np.array([self.t], np.float32), float(self.t), terminated, False, {}


gym.register("StepCount-v0", entry_point=StepCount, max_episode_steps=TIME_LIMIT)


class OtherSpaces(StepCount):
    """StepCount with other action and observation spaces, for the scripts' input checks (it is never stepped)."""

    def __init__(self, action_space=None, observation_space=None, render_mode=None):
        super().__init__(render_mode)
        self.action_space = action_space or self.action_space
        self.observation_space = observation_space or self.observation_space


for name, spaces in [
    ("MatrixAction-v0", {"action_space": gym.spaces.Box(-1.0, 1.0, (2, 1), np.float32)}),
    ("UnboundedAction-v0", {"action_space": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)}),
    ("ZeroWidthAction-v0", {"action_space": gym.spaces.Box(np.array([-1.0, 0.5], np.float32), np.float32(0.5))}),
    ("MatrixObservation-v0", {"observation_space": gym.spaces.Box(0.0, np.inf, (1, 1), np.float32)}),
]:
    gym.register(name, entry_point=OtherSpaces, kwargs=spaces, max_episode_steps=TIME_LIMIT)


class KilledPendulum(gym.Wrapper):
    """Pendulum-v1 whose process is killed (SIGKILL, as by a cluster's time limit) at the env's KILL_AT_STEP-th
    step, for the tests of --resume: a resumed run's new process makes a new env, which counts from 0 again."""

    def __init__(self, render_mode=None):
        super().__init__(PendulumEnv(render_mode=render_mode))
        self.steps = 0

    def step(self, action):
        self.steps += 1
        if self.steps == KILL_AT_STEP:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().step(action)


KILL_AT_STEP = 900
gym.register("KilledPendulum-v0", entry_point=KilledPendulum, max_episode_steps=200)
