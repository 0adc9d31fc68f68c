# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch==2.13.0",
#     "gymnasium[mujoco]==1.4.0",
#     "mujoco==4.0.0",
#     "numpy==2.4.6",
#     "tyro==1.0.17",
#     "tensorboard==2.21.0",
#     "moviepy==2.2.1",
# ]
# ///
"""Deep Deterministic Policy Gradient (DDPG), single file.

DDPG learns a Q-function from off-policy data with a Bellman target, and a deterministic policy mu(s) that climbs the
Q-function's gradient with respect to the action (Lillicrap et al. 2016). Spinning Up's pseudocode, step by step as
the comments below name them:

     1. input: initial policy parameters theta, Q-function parameters phi, empty replay buffer D
     2. set target parameters equal to main parameters: theta_targ <- theta, phi_targ <- phi
     3. repeat
     4.   observe state s and select action a = clip(mu_theta(s) + eps, a_low, a_high), eps ~ N
     5.   execute a in the environment
     6.   observe next state s', reward r, and done signal d to indicate whether s' is terminal
     7.   store (s, a, r, s', d) in replay buffer D
     8.   if s' is terminal, reset environment state
     9.   if it's time to update then
    10.     for however many updates do
    11.       randomly sample a batch of transitions B = {(s, a, r, s', d)} from D
    12.       compute targets y(r, s', d) = r + gamma (1 - d) Q_phi_targ(s', mu_theta_targ(s'))
    13.       update the Q-function by one step of gradient descent on (1/|B|) sum_B (Q_phi(s, a) - y(r, s', d))^2
    14.       update the policy by one step of gradient ascent on (1/|B|) sum_B Q_phi(s, mu_theta(s))
    15.       update the target networks: phi_targ <- rho phi_targ + (1 - rho) phi,
                                          theta_targ <- rho theta_targ + (1 - rho) theta
    16.     end for
    17.   end if
    18. until convergence

Here rho = 1 - tau. With --policy-frequency d > 1, steps 14-15 run only after every d-th critic update: TD3's delay
(d = 2, CleanRL's DDPG default); d = 1, the default, is published DDPG (the paper, Spinning Up, the TD3 paper's
"OurDDPG"). Steps 4-8 step --num-envs N environments together; once learning starts, one update follows each such
vector step, so with N environments the update-to-data ratio is 1/N (as CleanRL's). Exploration noise
eps ~ N(0, (sigma * scale)^2) is Gaussian in units of each action dimension's half-range `scale`.

References: Lillicrap et al., "Continuous control with deep reinforcement learning" (2016); Silver et al.,
"Deterministic Policy Gradient Algorithms" (2014); Fujimoto et al. (2018) for the settings;
spinningup.openai.com/en/latest/algorithms/ddpg.html; CleanRL's ddpg_continuous_action.py.

Run:  python ddpg.py --env-id HalfCheetah-v4  (`uv run ddpg.py ...`: this file alone)  then  tensorboard --logdir runs
"""

import copy
import glob
import os
import random
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter


@dataclass
class Args:
    # --- common ---
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """name of this experiment, part of the run folder's name"""
    seed: int = 1
    """seed of random, numpy, torch and the environments"""
    torch_deterministic: bool = True
    """set `torch.backends.cudnn.deterministic`"""
    cuda: bool = True
    """use the GPU when one is present (else the CPU)"""
    torch_threads: int | None = None
    """CPU threads of torch (default: torch's own, OMP_NUM_THREADS, else one per core); runs sharing cores: 1 each"""
    env_id: str = "HalfCheetah-v4"
    """a registered gymnasium id with Box actions, or `module:EnvId` for an environment of your own package"""
    total_timesteps: int = 1_000_000
    """environment steps to train for, summed over the --num-envs environments. gymnasium 1.x spends one step on
    each automatic reset (NEXT_STEP mode); it is counted here but never learned from. CleanRL (gymnasium 0.29) has no
    such step."""
    gamma: float = 0.99
    """discount factor gamma (0.99 is the usual value for MuJoCo)"""
    capture_video: bool = False
    """record episodes of the first environment to `videos/{run_name}/`"""
    save_model: bool = False
    """write `runs/{run_name}/{exp_name}.pt` (weights, args, versions)"""
    load_model: str | None = None
    """start from this checkpoint (a `.pt` written by --save-model)"""
    eval_only: bool = False
    """with --load-model: evaluate (and, with --capture-video, record) without training"""
    eval_episodes: int = 10
    """episodes of the deterministic policy to run after training (0 skips) and at each --eval-frequency"""
    eval_frequency: int = 0
    """deterministic evaluation of --eval-episodes episodes every this many environment steps during training,
    logged as eval/mean_return and eval/mean_length (0: off). Every 10000 steps with 10 episodes adds 4% to a
    1M-step HalfCheetah-v4 run at one thread (benchmark/eval_cost.py)"""
    track: bool = False
    """mirror the TensorBoard run to Weights & Biases (needs `pip install wandb`)"""
    wandb_project_name: str = "single-file-rl"
    """the Weights & Biases project"""
    wandb_entity: str | None = None
    """the Weights & Biases team or user (default: your default entity)"""

    # --- off-policy ---
    num_envs: int = 1
    """N environments stepped together, one update per vector step: an update-to-data ratio of 1/N (as CleanRL)"""
    buffer_size: int = 1_000_000
    """replay buffer capacity |D| in transitions, oldest overwritten first (1e6 holds a whole default run)"""
    batch_size: int = 256
    """transitions |B| per gradient step (256, CleanRL; the DDPG paper used 64)"""
    learning_starts: int = 25_000
    """steps of uniformly random actions that fill the buffer before any update (25e3, CleanRL)"""
    tau: float = 0.005
    """polyak coefficient tau: target <- (1 - tau) target + tau online, Spinning Up's rho = 1 - tau (0.005; DDPG:
    1e-3)"""
    checkpoint_frequency: int = 0
    """every this many steps, write the whole training state (networks, optimizers, replay buffer: 256 MB when full
    on Ant-v4) to `runs/{run_name}/{exp_name}_state.pt` for --resume (0: never); deleted when training ends"""
    resume: str | None = None
    """continue the run that wrote this state file, given the flags it started with (--cuda and --torch-threads
    may change): in its run folder, from the saved step, with new episodes and random draws (seed + step)"""

    # --- DDPG ---
    learning_rate: float = 3e-4
    """Adam learning rate of the actor and the critic (3e-4, CleanRL; the DDPG paper used 1e-4 and 1e-3)"""
    exploration_noise: float = 0.1
    """std sigma of the Gaussian action noise in units of each dimension's half-range (0.1, CleanRL; the paper: OU)"""
    policy_frequency: int = 1
    """update the actor and the targets once every d critic updates (1, the paper; 2 is TD3's delay, CleanRL's)"""


def make_env(env_id, idx, capture_video, run_name):
    def thunk():
        if capture_video and idx == 0:
            env = gym.wrappers.RecordVideo(gym.make(env_id, render_mode="rgb_array"), f"videos/{run_name}")
        else:
            env = gym.make(env_id)
        return gym.wrappers.RecordEpisodeStatistics(env)

    return thunk


def make_envs(args, num_envs, run_name, capture_video=False):
    # NEXT_STEP autoreset: the step that ends an episode returns its TRUE final observation; the env's next step call
    # is the reset (see step_and_store)
    return gym.vector.SyncVectorEnv([make_env(args.env_id, i, capture_video, run_name) for i in range(num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)


def mlp(in_dim, out_dim):
    return nn.Sequential(nn.Linear(in_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, out_dim))


class QNetwork(nn.Module):
    """Q(s, a): a 256-256 ReLU network on the concatenated observation and action."""

    def __init__(self, envs):
        super().__init__()
        self.net = mlp(envs.single_observation_space.shape[0] + envs.single_action_space.shape[0], 1)

    def forward(self, obs, actions):
        return self.net(torch.cat([obs, actions], 1)).squeeze(-1)


class Actor(nn.Module):
    """Deterministic policy mu(s) = bias + scale * tanh(net(s)), 256-256 ReLU."""

    def __init__(self, envs):
        super().__init__()
        self.net = mlp(envs.single_observation_space.shape[0], envs.single_action_space.shape[0])
        # tanh gives [-1, 1]; the affine map onto the environment's own bounds per dimension (Pendulum +-2, Humanoid
        # +-0.4) never assumes +-1. Buffers: saved with the weights, not trained.
        low, high = envs.single_action_space.low, envs.single_action_space.high
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def forward(self, obs):
        return self.action_bias + self.action_scale * torch.tanh(self.net(obs))


class ReplayBuffer:
    """Circular buffer of transitions (s, a, r, s', d), preallocated on the training device. A transition is one row
    of `storage` (obs, actions, reward, next_obs, termination): storing a step is one host-to-device copy, sampling a
    batch one gather."""

    def __init__(self, size, obs_dim, act_dim, device):
        self.widths = [obs_dim, act_dim, 1, obs_dim, 1]
        self.storage = torch.zeros((size, sum(self.widths)), device=device)
        self.pos, self.count = 0, 0

    def add(self, obs, actions, rewards, next_obs, terminations):
        rows = np.concatenate([obs, actions, rewards[:, None], next_obs, terminations[:, None]], axis=1)
        idx = torch.arange(self.pos, self.pos + len(rows), device=self.storage.device) % len(self.storage)
        self.storage[idx] = torch.as_tensor(rows, dtype=torch.float32, device=self.storage.device)
        self.pos = (self.pos + len(rows)) % len(self.storage)
        self.count = min(self.count + len(rows), len(self.storage))

    def sample(self, batch_size):
        idx = torch.randint(0, self.count, (batch_size,), device=self.storage.device)
        obs, actions, rewards, next_obs, terminations = self.storage[idx].split(self.widths, dim=1)
        return obs, actions, rewards.squeeze(1), next_obs, terminations.squeeze(1)

    def state_dict(self):
        # a copy of the filled rows only: torch.save writes a view's whole underlying storage
        return {"storage": self.storage[: self.count].to("cpu", copy=True), "pos": self.pos}

    def load_state_dict(self, state):
        self.count = len(state["storage"])
        self.storage[: self.count] = state["storage"]
        self.pos = state["pos"]


def step_and_store(envs, rb, obs, actions, autoreset):
    """Steps 5-8: execute a, observe (s', r, d), store (s, a, r, s', d); returns s', the new autoreset mask, infos."""
    # within the space's own bounds: float32 bias + scale * tanh can round past them (Box(-1.5, 0.2): 0.20000005)
    actions = np.clip(actions, envs.single_action_space.low, envs.single_action_space.high)
    next_obs, rewards, terminations, truncations, infos = envs.step(actions)
    # An env whose previous step ended its episode was only reset by this call (NEXT_STEP mode: the action was
    # ignored, the reward is 0): that is no transition of the environment, never store it.
    keep = ~autoreset
    # At an episode's end next_obs is its TRUE final observation, and d is `terminated` alone: a time-limit
    # truncation is stored as non-terminal, so its target bootstraps from Q(s', a').
    rb.add(obs[keep], actions[keep], rewards[keep], next_obs[keep], terminations[keep])
    return next_obs, terminations | truncations, infos


def save_state(path, parts, **extra):
    """Writes for --resume the state of `parts` (everything a training step changes) and `extra`; atomically: a kill
    while writing leaves the last state whole."""
    torch.save({**{name: part.state_dict() for name, part in parts.items()}, **extra}, f"{path}.tmp")
    os.replace(f"{path}.tmp", path)


def load_state(args):
    """The --resume state file, checked: it loads, its run started with the same flags (but --resume, --cuda,
    --torch-threads), its run folder is runs/{run_name} here. Returns (state, run_name, global step)."""
    try:
        saved = torch.load(args.resume, map_location="cpu", weights_only=True)
        # (a flag added to the script since the state was written counts with its default, as that run had it)
        saved_args, run_name, start_step = {**vars(Args()), **saved["args"]}, saved["run_name"], saved["global_step"]
    except Exception as e:
        fail(f"--resume: cannot load {args.resume!r} as a state file: {type(e).__name__}: {' '.join(str(e).split())}")
    changed = [k for k, v in vars(args).items() if k not in ("resume", "cuda", "torch_threads") and saved_args[k] != v]
    if changed:
        fail("--resume: give the flags the run started with: " + ", ".join(
            f"--{k.replace('_', '-')} {saved_args[k]} (not {getattr(args, k)})" for k in changed))
    if os.path.realpath(os.path.dirname(args.resume)) != os.path.realpath(f"runs/{run_name}"):
        fail(f"--resume: run it from the folder that holds runs/{run_name}/, the run folder of {args.resume!r}")
    return saved, run_name, start_step


def bellman_target(rewards, terminations, next_q, gamma):
    """y = r + gamma (1 - d) Q_targ(s', a'); d must be `terminated`, never `terminated or truncated`: a state cut
    off by a time limit still has a future worth Q_targ(s', a')."""
    return rewards + gamma * (1.0 - terminations) * next_q


@torch.no_grad()
def polyak_update(target, online, tau):
    """theta_targ <- (1 - tau) theta_targ + tau theta: targets that trail the online networks slowly keep the
    regression target y from chasing the critic being fitted to it."""
    for target_param, param in zip(target.parameters(), online.parameters()):
        target_param.lerp_(param, tau)


def add_exploration_noise(actions, action_scale, action_low, action_high, exploration_noise):
    """a = clip(mu(s) + eps, low, high), eps ~ N(0, (sigma * scale)^2): sigma is in units of each dimension's
    half-range, so 0.1 explores 10% of every dimension whatever its bounds."""
    noise = torch.randn_like(actions) * exploration_noise * action_scale
    return (actions + noise).clamp(action_low, action_high)


def evaluate(actor, envs, num_episodes, device, seed):
    """Deterministic policy mu(s), without exploration noise; raw episodic returns and lengths."""
    returns, lengths = [], []
    obs, _ = envs.reset(seed=seed)
    while len(returns) < num_episodes:
        with torch.no_grad():
            actions = actor(torch.as_tensor(obs, dtype=torch.float32, device=device)).cpu().numpy()
        # within the space's own bounds, as in step_and_store
        obs, _, _, _, infos = envs.step(np.clip(actions, envs.single_action_space.low, envs.single_action_space.high))
        if "_episode" in infos:
            returns += infos["episode"]["r"][infos["_episode"]].tolist()
            lengths += infos["episode"]["l"][infos["_episode"]].tolist()
    return returns[:num_episodes], lengths[:num_episodes]


def load_checkpoint(path, env_id, modules):
    """Loads a --save-model checkpoint into `modules` ({name: module}) and returns it: exits in one line where it
    does not fit, warns where it fits but was trained on another environment."""
    saved_env_id = env_id
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        saved_env_id = checkpoint.get("args", {}).get("env_id", env_id)
        actor = modules["actor"]
        bounds = actor.action_scale.clone(), actor.action_bias.clone()  # this env's; loading sets the checkpoint's
        for name, module in modules.items():
            module.load_state_dict(checkpoint[name])
        if not (torch.equal(actor.action_scale, bounds[0]) and torch.equal(actor.action_bias, bounds[1])):
            raise ValueError(f"its actor acts within other action bounds than {env_id}'s")
    except Exception as e:
        trained_on = f" (it was trained on {saved_env_id})" if saved_env_id != env_id else ""
        fail(f"cannot load {path!r}: {type(e).__name__}: {' '.join(str(e).split())}{trained_on}")
    if saved_env_id != env_id:
        print(f"{os.path.basename(__file__)}: warning: {path!r} was trained on {saved_env_id}, not {env_id}",
              file=sys.stderr)
    return checkpoint


def check_args(args):
    """Every input check and a probe of the environment, before any work: a bad input ends in one line."""
    for name in ("total_timesteps", "num_envs", "buffer_size", "batch_size", "policy_frequency", "learning_rate"):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.exploration_noise < 0:
        fail(f"--exploration-noise must be non-negative, got {args.exploration_noise}")
    for bad, message in [
        (not args.eval_only and not 0 <= args.learning_starts < args.total_timesteps,
         f"--learning-starts {args.learning_starts} must be in [0, --total-timesteps {args.total_timesteps})"),
        (args.total_timesteps < args.num_envs,
         f"--total-timesteps {args.total_timesteps} must be at least --num-envs {args.num_envs}"),
        (not 0 < args.tau <= 1, f"--tau must be in (0, 1], got {args.tau}"),
        (not 0 <= args.gamma <= 1, f"--gamma must be in [0, 1], got {args.gamma}"),
        (args.torch_threads is not None and args.torch_threads <= 0,
         f"--torch-threads must be positive, got {args.torch_threads}"),
        (args.checkpoint_frequency < 0,
         f"--checkpoint-frequency must be non-negative (0: never), got {args.checkpoint_frequency}"),
        (args.checkpoint_frequency > 0 and args.capture_video,
         "--checkpoint-frequency does not go with --capture-video: a resumed run would record over the videos"),
        (args.eval_episodes < 0, f"--eval-episodes must be non-negative (0 skips), got {args.eval_episodes}"),
        (args.eval_frequency < 0, f"--eval-frequency must be non-negative (0: off), got {args.eval_frequency}"),
        (args.eval_frequency > 0 and args.eval_episodes == 0, "--eval-frequency needs --eval-episodes > 0"),
        (args.eval_only and args.load_model is None, "--eval-only needs --load-model PATH"),
        (args.load_model is not None and not os.path.isfile(args.load_model),
         f"--load-model: no such file {args.load_model!r}"),
        (args.resume is not None and not os.path.isfile(args.resume), f"--resume: no such file {args.resume!r}"),
    ]:
        if bad:
            fail(message)
    if args.capture_video:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must be set before mujoco loads
    try:  # with --capture-video, made as make_env will make it, so that an env that cannot render fails here
        probe = gym.make(args.env_id, render_mode="rgb_array") if args.capture_video else gym.make(args.env_id)
    except Exception as e:  # unknown id, missing module or dependency
        fail(f"cannot make environment {args.env_id!r}: {e}".splitlines()[0])
    space, obs_space, script = probe.action_space, probe.observation_space, os.path.basename(__file__)
    probe.close()
    if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1 and space.is_bounded()
            and (space.low < space.high).all()):
        fail(f"{script} requires a flat Box action space with finite bounds, low < high; {args.env_id} has {space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        fail(f"{args.env_id} has observation space {obs_space}; {script} needs a flat Box")


def fail(message):
    sys.exit(f"{os.path.basename(__file__)}: error: {message}")


if __name__ == "__main__":
    args = tyro.cli(Args)
    check_args(args)
    # a resumed run goes on in its own run folder from the step its state was saved at, with the same flags
    saved, run_name, start_step = None, f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}", 0
    if args.resume is not None:
        saved, run_name, start_step = load_state(args)

    # --- seeding (a resumed run draws anew, from seed + the step it resumes at) ---
    seed = args.seed + start_step
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    envs = make_envs(args, args.num_envs, run_name, args.capture_video and not args.eval_only)
    envs.action_space.seed(seed)
    # the noise clamps use the space's own bounds too, not float32 bias +- scale, which can round past them
    space = envs.single_action_space
    action_low, action_high = (torch.as_tensor(b, dtype=torch.float32, device=device) for b in (space.low, space.high))

    # step 1: initial policy and Q-function parameters, empty replay buffer (--eval-only: the actor alone)
    actor = Actor(envs).to(device)
    if args.eval_only:
        load_checkpoint(args.load_model, args.env_id, {"actor": actor})
    else:
        qf1 = QNetwork(envs).to(device)
        if args.load_model is not None:
            load_checkpoint(args.load_model, args.env_id, {"actor": actor, "qf1": qf1})
        actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.learning_rate, fused=True)
        q_optimizer = torch.optim.Adam(qf1.parameters(), lr=args.learning_rate, fused=True)
        rb = ReplayBuffer(args.buffer_size, envs.single_observation_space.shape[0], space.shape[0], device)
        # step 2: target parameters equal to the main parameters
        target_actor, qf1_target = copy.deepcopy(actor), copy.deepcopy(qf1)
        # everything a training step reads and changes, saved by --checkpoint-frequency and restored by --resume
        stateful = {"actor": actor, "qf1": qf1, "target_actor": target_actor, "qf1_target": qf1_target,
                    "actor_optimizer": actor_optimizer, "q_optimizer": q_optimizer, "rb": rb}
        if saved is not None:  # --resume: every part as the state file holds it
            try:
                for name, part in stateful.items():
                    part.load_state_dict(saved[name])
            except Exception as e:
                fail(f"--resume: {args.resume!r} does not fit this run: {type(e).__name__}: "
                     f"{' '.join(str(e).split())}")
            print(f"resuming {run_name} at global step {start_step} from {args.resume}", flush=True)

    if args.track:
        try:
            import wandb
        except ImportError:
            fail("--track needs wandb, which is not installed: pip install wandb")
        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True, config=vars(args),
                   name=run_name, save_code=True)
    # the run folder and its logs, made only now that the input and any checkpoint have passed their checks; a
    # resumed run drops what its killed process logged after the saved step (TensorBoard's purge_step)
    writer = SummaryWriter(f"runs/{run_name}", purge_step=start_step + 1 if args.resume is not None else None)
    # at the step a resumed run goes on from: its process's flags (--resume, threads) and versions next to the first's
    table = "\n".join(f"|{k}|{v}|" for k, v in vars(args).items())
    writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}", start_step)
    versions = {"torch": str(torch.__version__), "gymnasium": gym.__version__, "numpy": np.__version__,
                "python": sys.version.split()[0]}
    writer.add_text("versions", "\n".join(f"{k}: {v}" for k, v in versions.items()), start_step)

    state_path = f"runs/{run_name}/{args.exp_name}_state.pt"
    # evaluation during training in environments of its own, made once: it touches nothing that training uses
    eval_envs = make_envs(args, 1, f"{run_name}/eval") if args.eval_frequency > 0 and not args.eval_only else None
    eval_mean, actor_loss, print_every = None, None, max(1, args.total_timesteps // 20)
    recent_returns = [] if saved is None else saved["recent_returns"]
    saved = None  # the loaded state holds a copy of the replay buffer: free it
    start_time = time.time()
    obs, _ = envs.reset(seed=seed)  # a resumed run starts new episodes: the environment's state is not saved
    autoreset = np.zeros(envs.num_envs, dtype=bool)

    # step 3: repeat, one vector step of N environment steps at a time
    num_iterations = 0 if args.eval_only else args.total_timesteps // args.num_envs
    for iteration in range(start_step // args.num_envs + 1, num_iterations + 1):
        global_step = iteration * args.num_envs
        # step 4: a = clip(mu(s) + eps, low, high); uniformly random actions until learning starts
        if global_step <= args.learning_starts:
            actions = envs.action_space.sample()
        else:
            with torch.no_grad():
                actions = actor(torch.as_tensor(obs, dtype=torch.float32, device=device))
                actions = add_exploration_noise(actions, actor.action_scale, action_low, action_high,
                                                args.exploration_noise).cpu().numpy()

        # steps 5-8: execute a, observe s', r, d, store the transition; gymnasium resets finished envs
        obs, autoreset, infos = step_and_store(envs, rb, obs, actions, autoreset)
        if "_episode" in infos:
            for r, l in zip(infos["episode"]["r"][infos["_episode"]], infos["episode"]["l"][infos["_episode"]]):
                writer.add_scalar("charts/episodic_return", r, global_step)
                writer.add_scalar("charts/episodic_length", l, global_step)
                recent_returns = (recent_returns + [float(r)])[-20:]

        # steps 9-10: one update per vector step once learning starts
        if global_step > args.learning_starts:
            # step 11: a random batch from D
            b_obs, b_actions, b_rewards, b_next_obs, b_terminations = rb.sample(args.batch_size)
            with torch.no_grad():
                # step 12: y = r + gamma (1 - d) Q_targ(s', mu_targ(s')), d = terminated only (bellman_target)
                next_q = qf1_target(b_next_obs, target_actor(b_next_obs))
                target_q = bellman_target(b_rewards, b_terminations, next_q, args.gamma)

            # step 13: one gradient step on the mean-squared Bellman error
            qf1_values = qf1(b_obs, b_actions)
            qf1_loss = F.mse_loss(qf1_values, target_q)
            qf_loss = qf1_loss  # one critic
            q_optimizer.zero_grad(set_to_none=True)
            qf_loss.backward()
            q_optimizer.step()

            # with --policy-frequency d > 1, TD3's delay: the actor moves only after the critic has caught up with it
            if iteration % args.policy_frequency == 0:
                # step 14: ascend Q(s, mu(s)). The gradient flows through the critic into the actor, but the
                # critic's own weights must not learn from this loss: frozen while it is built.
                qf1.requires_grad_(False)
                actor_loss = -qf1(b_obs, actor(b_obs)).mean()
                qf1.requires_grad_(True)
                actor_optimizer.zero_grad(set_to_none=True)
                actor_loss.backward()
                actor_optimizer.step()

                # step 15: targets trail the online networks (rho = 1 - tau)
                polyak_update(target_actor, actor, args.tau)
                polyak_update(qf1_target, qf1, args.tau)

            if iteration % 100 == 0 or iteration == num_iterations:  # every 100 vector steps, and the last
                losses = {"qf1_values": qf1_values.mean(), "qf1_loss": qf1_loss, "qf_loss": qf_loss,
                          "actor_loss": actor_loss}
                for name, value in losses.items():
                    if value is not None:  # the actor's first update may be up to policy_frequency steps away
                        writer.add_scalar(f"losses/{name}", value.item(), global_step)
                sps = int((global_step - start_step) / (time.time() - start_time))
                writer.add_scalar("charts/SPS", sps, global_step)
                parameters = [*actor.parameters(), *qf1.parameters()]
                if not torch.isfinite(nn.utils.parameters_to_vector(parameters)).all():
                    writer.close()  # what was logged stays readable
                    fail(f"training diverged: non-finite parameters at global step {global_step}")

        if (args.eval_frequency > 0
                and global_step // args.eval_frequency > (global_step - args.num_envs) // args.eval_frequency):
            returns, lengths = evaluate(actor, eval_envs, args.eval_episodes, device, args.seed + 1)
            eval_mean = np.mean(returns)
            writer.add_scalar("eval/mean_return", eval_mean, global_step)
            writer.add_scalar("eval/mean_length", np.mean(lengths), global_step)

        if global_step // print_every > (global_step - args.num_envs) // print_every or iteration == num_iterations:
            sps = int((global_step - start_step) / (time.time() - start_time))
            mean_return = np.mean(recent_returns) if recent_returns else float("nan")
            last_eval = "" if eval_mean is None else f" eval={eval_mean:.1f}"
            print(f"global_step={global_step} SPS={sps} mean_return(last 20)={mean_return:.1f}{last_eval}", flush=True)

        if (args.checkpoint_frequency > 0 and iteration < num_iterations and global_step // args.checkpoint_frequency
                > (global_step - args.num_envs) // args.checkpoint_frequency):  # crossed a multiple, as above
            writer.flush()  # the logs up to this step are on disk before the state that resumes after them
            save_state(state_path, stateful, args=vars(args), run_name=run_name, global_step=global_step,
                       recent_returns=recent_returns)

    if os.path.exists(state_path):  # training is complete: nothing left to resume
        os.remove(state_path)
    if eval_envs is not None:
        eval_envs.close()
    if args.save_model and not args.eval_only:
        model_path = f"runs/{run_name}/{args.exp_name}.pt"
        checkpoint = {"actor": actor.state_dict(), "qf1": qf1.state_dict()}
        torch.save({**checkpoint, "args": vars(args), "versions": versions}, model_path)
        print(f"model saved to {model_path}")

    if args.eval_episodes > 0:  # the final evaluation, in an environment of its own (recorded with --capture-video)
        eval_envs = make_envs(args, 1, f"{run_name}/eval", args.capture_video)
        returns, _ = evaluate(actor, eval_envs, args.eval_episodes, device, args.seed + 1)
        for idx, episodic_return in enumerate(returns):
            writer.add_scalar("eval/episodic_return", episodic_return, idx)
        print(f"eval: mean return {np.mean(returns):.1f} over {len(returns)} deterministic episodes")
        eval_envs.close()

    envs.close()
    writer.close()
    if args.track and args.capture_video:  # the recorded episodes, beside the mirrored TensorBoard scalars
        for path in sorted(glob.glob(f"videos/{run_name}/**/*.mp4", recursive=True)):
            wandb.log({"videos": wandb.Video(path)})
