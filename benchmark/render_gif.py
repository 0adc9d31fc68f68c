"""A short GIF of a trained agent, rendered headless from a --save-model checkpoint with the script's own code.

    python benchmark/render_gif.py ppo.py runs/HalfCheetah-v4__ppo__1__.../ppo.pt --out docs/img/ppo.gif

The script is imported as a module (its training loop sits under `if __name__ == "__main__"` and does not run):
its `make_envs` makes the environment as in training (the on-policy scripts' observation normalization, loaded
from the checkpoint with `load_checkpoint` and frozen), its networks act, and its `evaluate` runs the deterministic
policy (the Gaussian mean, the tanh of the mean, the argmax) for one episode, seeded as the script's final
evaluation. The frames come from the first environment, rendered with `render_mode="rgb_array"` under
`MUJOCO_GL=egl` (set here unless already set) every --every steps, at most --max-frames of them, downscaled to
--size pixels and written with imageio; the episode's return is printed. Keep a GIF small (<= ~2 MB): fewer frames
or a smaller size.
"""

import argparse
import importlib.util
import os
import sys

import numpy as np


def import_script(path):
    """The algorithm script at `path` as a module (nothing under its `__main__` guard runs)."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", help="the algorithm script that wrote the checkpoint, e.g. ppo.py")
    parser.add_argument("checkpoint", help="a .pt file written by the script's --save-model")
    parser.add_argument("--out", required=True, help="the GIF to write")
    parser.add_argument("--env-id", default=None, help="default: the environment the checkpoint was trained on")
    parser.add_argument("--seed", type=int, default=None, help="reset seed (default: the checkpoint's seed + 1)")
    parser.add_argument("--every", type=int, default=2, help="keep one frame in this many environment steps")
    parser.add_argument("--max-frames", type=int, default=150)
    parser.add_argument("--size", type=int, default=240, help="width and height of the frames in pixels")
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    if not os.path.isfile(args.script):
        sys.exit(f"render_gif.py: error: no such script {args.script!r}")
    if args.every < 1 or args.max_frames < 1 or args.size < 16 or args.fps <= 0:
        sys.exit("render_gif.py: error: --every and --max-frames must be positive, --size >= 16, --fps > 0")
    os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco loads: headless rendering
    import gymnasium as gym
    import imageio.v3 as iio
    import torch
    from PIL import Image

    module = import_script(args.script)
    try:
        saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)["args"]
    except Exception as e:
        sys.exit(f"render_gif.py: error: cannot read {args.checkpoint!r} as a checkpoint: {type(e).__name__}: {e}")
    run_args = module.Args()
    for key, value in saved.items():  # the settings the agent was trained with (make_envs reads some)
        if hasattr(run_args, key):
            setattr(run_args, key, value)
    run_args.env_id = args.env_id or run_args.env_id
    seed = run_args.seed + 1 if args.seed is None else args.seed

    frames, steps = [], [0]

    class Frames(gym.Wrapper):
        """Stands in for RecordVideo, which make_env puts around the first environment when capturing video:
        renders every --every-th step into `frames`, nothing to disk."""

        def __init__(self, env, *_, **__):
            super().__init__(env)
            if hasattr(env.unwrapped, "mujoco_renderer"):  # MuJoCo renders at this size directly
                env.unwrapped.mujoco_renderer.width = env.unwrapped.mujoco_renderer.height = args.size

        def grab(self):
            if steps[0] % args.every == 0 and len(frames) < args.max_frames:
                frame = Image.fromarray(np.asarray(self.env.render()))
                frames.append(frame if frame.size == (args.size, args.size) else frame.resize((args.size, args.size)))
            steps[0] += 1

        def reset(self, **kwargs):
            result = self.env.reset(**kwargs)
            self.grab()
            return result

        def step(self, action):
            result = self.env.step(action)
            self.grab()
            return result

    gym.wrappers.RecordVideo = Frames  # only in this process: make_env's recorder becomes the frame grabber
    made = module.make_envs(run_args, 1, "render_gif", capture_video=True)
    device = torch.device("cpu")
    if hasattr(module, "Agent"):  # on-policy: the agent, with the checkpoint's frozen normalization statistics
        envs, obs_norm, reward_norm = made
        obs_norm.update_running_mean = reward_norm.update_running_mean = False
        policy = module.Agent(envs, run_args.init_log_std)
        module.load_checkpoint(args.checkpoint, run_args.env_id,
                               {"agent": policy, "obs_rms": obs_norm.obs_rms, "return_rms": reward_norm.return_rms})
    else:  # off-policy: the actor alone acts (SAC: the pair of its action space)
        envs = made
        discrete = isinstance(envs.single_action_space, gym.spaces.Discrete)
        policy = (module.DiscreteActor if discrete else module.Actor)(envs)
        module.load_checkpoint(args.checkpoint, run_args.env_id, {"actor": policy})
    try:
        returns, lengths = module.evaluate(policy, envs, 1, device, seed)
    except gym.error.DependencyNotInstalled as e:  # e.g. pygame, which the classic-control environments render with
        sys.exit(f"render_gif.py: error: {run_args.env_id} cannot render here: {e}")
    envs.close()
    if not frames:
        sys.exit("render_gif.py: error: no frame was rendered")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    iio.imwrite(args.out, [np.asarray(f) for f in frames], extension=".gif", duration=1000 / args.fps, loop=0)
    print(f"render_gif.py: {args.out}: {len(frames)} frames of an episode of {lengths[0]} steps, return "
          f"{returns[0]:.1f}, {os.path.getsize(args.out) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
