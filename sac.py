"""Soft Actor-Critic (SAC), single file.

SAC learns a stochastic policy that maximizes reward plus entropy, E[sum_t r_t + alpha H(pi(.|s_t))],
with twin Q-functions and clipped double-Q targets as in TD3, a tanh-squashed Gaussian policy trained
through the reparameterization trick, and the temperature alpha tuned towards a target entropy
(Haarnoja et al. 2018a, 2018b). Spinning Up's pseudocode, step by step as the comments below name them:

     1. input: initial policy parameters theta, Q-function parameters phi_1, phi_2, empty replay buffer D
     2. set target parameters equal to main parameters: phi_targ,i <- phi_i
     3. repeat
     4.   observe state s and select action a ~ pi_theta(.|s)
     5.   execute a in the environment
     6.   observe next state s', reward r, and done signal d to indicate whether s' is terminal
     7.   store (s, a, r, s', d) in replay buffer D
     8.   if s' is terminal, reset environment state
     9.   if it's time to update then
    10.     for j in range(however many updates) do
    11.       randomly sample a batch of transitions B = {(s, a, r, s', d)} from D
    12.       compute targets y(r, s', d) = r + gamma (1 - d) (min_i Q_phi_targ,i(s', a') - alpha log pi_theta(a'|s')),
                  a' ~ pi_theta(.|s')
    13.       update the Q-functions by one step of gradient descent on
                  (1/|B|) sum_B (Q_phi_i(s, a) - y(r, s', d))^2   for i = 1, 2
    14.       update the policy by one step of gradient ascent on
                  (1/|B|) sum_B (min_i Q_phi_i(s, a_theta(s)) - alpha log pi_theta(a_theta(s)|s)),
              a_theta(s) = bias + scale * tanh(mean_theta(s) + std_theta(s) * xi), xi ~ N(0, I)
    15.       update the target networks: phi_targ,i <- rho phi_targ,i + (1 - rho) phi_i
    16.     end for
    17.   end if
    18. until convergence

Here rho = 1 - tau and one critic update follows every environment step once learning starts; the
policy updates come in bursts of `policy_frequency` every `policy_frequency` steps (CleanRL). With
--autotune, each policy step is followed by one on the temperature (Haarnoja et al. 2018b, eq. 18):
    J(alpha) = E_a~pi[ -alpha (log pi(a|s) + H_target) ],  H_target = -|A|.
Change of variables for a = bias + scale * tanh(u), u ~ N(mean, std^2), per action dimension:
    log pi(a|s) = log N(u; mean, std^2) - sum_i [ 2 (log 2 - u_i - softplus(-2 u_i)) + log scale_i ].

References: Haarnoja et al., "Soft Actor-Critic: Off-Policy Maximum Entropy Deep Reinforcement Learning
with a Stochastic Actor" (2018a) and "Soft Actor-Critic Algorithms and Applications" (2018b);
spinningup.openai.com/en/latest/algorithms/sac.html; CleanRL's sac_continuous_action.py.

Run:  python sac.py --env-id HalfCheetah-v4      then   tensorboard --logdir runs
"""

import copy
import math
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
import torch.optim as optim
import tyro
from torch.distributions import Normal
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
    """CPU threads of torch (torch.set_num_threads); default: torch's own (OMP_NUM_THREADS, else one per
    core). Runs that share the cores should take 1 each, as benchmark/grid.sh does (benchmark/results/speed.md)"""
    env_id: str = "HalfCheetah-v4"
    """a registered gymnasium id with Box actions, or `module:EnvId` for an environment of your own package"""
    total_timesteps: int = 1_000_000
    """environment steps to train for, counting gymnasium's autoreset step after each episode (as CleanRL does)"""
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
    """episodes of the deterministic policy to run after training (0 skips)"""

    # --- off-policy ---
    buffer_size: int = 1_000_000
    """replay buffer capacity |D| in transitions, oldest overwritten first (1e6 holds a whole default run)"""
    batch_size: int = 256
    """transitions |B| per gradient step (256, CleanRL and the SAC papers)"""
    learning_starts: int = 5_000
    """steps of uniformly random actions that fill the buffer before any update (5e3, CleanRL)"""
    tau: float = 0.005
    """polyak coefficient tau: target <- (1 - tau) target + tau online, Spinning Up's rho = 1 - tau
    (0.005, CleanRL and the SAC papers)"""
    checkpoint_frequency: int = 0
    """every this many steps, write the whole training state (networks, optimizers, replay buffer: 256 MB when full
    on Ant-v4) to `runs/{run_name}/{exp_name}_state.pt` for --resume (0: never); deleted when training ends"""
    resume: str | None = None
    """continue the run that wrote this state file, given the flags it started with (--cuda and --torch-threads
    may change): in its run folder, from the saved step, with new episodes and random draws (seed + step)"""

    # --- SAC ---
    policy_lr: float = 3e-4
    """Adam learning rate of the policy (3e-4, CleanRL and the SAC papers)"""
    q_lr: float = 1e-3
    """Adam learning rate of the critics and of log alpha (1e-3, CleanRL; 3e-4 in the SAC papers)"""
    policy_frequency: int = 2
    """every d steps, d policy (and alpha) updates in a row: as many as the critic's, delayed (2, CleanRL)"""
    target_network_frequency: int = 1
    """polyak update of the target critics every this many critic updates (1, the SAC papers)"""
    alpha: float = 0.2
    """fixed entropy temperature alpha with --no-autotune (0.2, Spinning Up); larger explores more"""
    autotune: bool = True
    """tune alpha towards the target entropy H_target = -|A|, starting from 1 or from the --load-model
    checkpoint's alpha (Haarnoja et al. 2018b). The entropy is in the environment's action units, as in CleanRL
    (log pi counts log scale_i); SB3 measures it on tanh's [-1, 1], which differs where the bounds are not +-1
    (Humanoid's +-0.4)"""


def make_env(env_id, idx, capture_video, run_name):
    def thunk():
        if capture_video and idx == 0:
            env = gym.wrappers.RecordVideo(gym.make(env_id, render_mode="rgb_array"), f"videos/{run_name}")
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        return env

    return thunk


def make_envs(args, num_envs, run_name, capture_video=False):
    # NEXT_STEP autoreset: the step that ends an episode returns its TRUE final observation; the
    # env's next step call is the reset (see step_and_store)
    return gym.vector.SyncVectorEnv(
        [make_env(args.env_id, i, capture_video, run_name) for i in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )


def mlp(in_dim, out_dim):
    return nn.Sequential(nn.Linear(in_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, out_dim))


class QNetwork(nn.Module):
    """Q(s, a): a 256-256 ReLU network on the concatenated observation and action."""

    def __init__(self, envs):
        super().__init__()
        obs_dim = int(np.prod(envs.single_observation_space.shape))
        act_dim = int(np.prod(envs.single_action_space.shape))
        self.net = mlp(obs_dim + act_dim, 1)

    def forward(self, obs, actions):
        return self.net(torch.cat([obs, actions], 1)).squeeze(-1)


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Actor(nn.Module):
    """Squashed Gaussian policy a = bias + scale * tanh(u), u ~ N(mean(s), std(s)^2), 256-256 ReLU."""

    def __init__(self, envs):
        super().__init__()
        obs_dim = int(np.prod(envs.single_observation_space.shape))
        act_dim = int(np.prod(envs.single_action_space.shape))
        self.net = mlp(obs_dim, 2 * act_dim)  # mean and log std
        # tanh gives [-1, 1]; the affine map onto the environment's own bounds per dimension
        # (Pendulum +-2, Humanoid +-0.4) never assumes +-1. Buffers: saved with the weights, not trained.
        low, high = envs.single_action_space.low, envs.single_action_space.high
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def get_action(self, obs):
        """A reparameterized sample a ~ pi(.|s), its log pi(a|s), and the deterministic action
        bias + scale * tanh(mean)."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        # a smooth clamp of log std into [LOG_STD_MIN, LOG_STD_MAX] (tanh, then rescaled): std stays
        # bounded away from 0 and infinity without the zero gradient of a hard clamp
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        # reparameterization trick: u = mean + std * xi, so the policy gradient flows through the sample
        u = mean + log_std.exp() * torch.randn_like(mean)
        log_prob = tanh_gaussian_log_prob(mean, log_std, u, self.action_scale)
        squash = lambda x: self.action_bias + self.action_scale * torch.tanh(x)  # onto the env's bounds
        return squash(u), log_prob, squash(mean)


class ReplayBuffer:
    """Circular buffer of transitions (s, a, r, s', d), preallocated on the training device.

    A transition is one row of `storage` (columns: obs, actions, reward, next_obs, termination), so
    storing an environment step is one host-to-device copy and sampling a batch is one gather."""

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
    """Steps 5-8: execute a, observe (s', r, d), store (s, a, r, s', d); returns s', the new autoreset
    mask and the infos."""
    next_obs, rewards, terminations, truncations, infos = envs.step(actions)
    # An env whose previous step ended its episode was only reset by this call (NEXT_STEP mode: the
    # action was ignored, the reward is 0): that is no transition of the environment, never store it.
    keep = ~autoreset
    # At an episode's end next_obs is its TRUE final observation, and d is `terminated` alone: a
    # time-limit truncation is stored as non-terminal, so its target bootstraps from Q(s', a').
    rb.add(obs[keep], actions[keep], rewards[keep], next_obs[keep], terminations[keep])
    return next_obs, terminations | truncations, infos


def bellman_target(rewards, terminations, next_q, gamma):
    """y = r + gamma (1 - d) Q_targ(s', a'); d must be `terminated`, never `terminated or truncated`:
    a state cut off by a time limit still has a future worth Q_targ(s', a')."""
    return rewards + gamma * (1.0 - terminations) * next_q


@torch.no_grad()
def polyak_update(target, online, tau):
    """theta_targ <- (1 - tau) theta_targ + tau theta: targets that trail the online networks slowly
    keep the regression target y from chasing the critic being fitted to it."""
    for target_param, param in zip(target.parameters(), online.parameters()):
        target_param.lerp_(param, tau)


def tanh_gaussian_log_prob(mean, log_std, u, action_scale):
    """log pi(a|s) of a = bias + scale * tanh(u), u ~ N(mean, exp(log_std)^2), summed over action dims.

    Change of variables: log pi(a) = log N(u) - sum_i log(scale_i (1 - tanh(u_i)^2)). The identity
    log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) gives the same number without forming
    1 - tanh(u)^2, which rounds to 0 (log 0 = -inf) in float32 once |u| > ~9 (Spinning Up's SAC)."""
    log_abs_det_jacobian = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u)) + torch.log(action_scale)
    # validate_args=False: a diverged (NaN) network must reach the divergence check, not raise here
    return (Normal(mean, log_std.exp(), validate_args=False).log_prob(u) - log_abs_det_jacobian).sum(-1)


def target_entropy_heuristic(action_space):
    """H_target = -|A|, one nat below zero per action dimension (Haarnoja et al. 2018b)."""
    return -float(np.prod(action_space.shape))


def temperature_loss(log_alpha, log_prob, target_entropy):
    """J(alpha) = E[-alpha (log pi(a|s) + H_target)]: descending it raises alpha while the policy's
    entropy -log pi is below H_target and lowers it while above. log pi is a constant here."""
    return (-log_alpha.exp() * (log_prob.detach() + target_entropy)).mean()


def evaluate(actor, envs, num_episodes, device, seed):
    """Deterministic policy bias + scale * tanh(mean(s)), without sampling; raw episodic returns."""
    returns = []
    obs, _ = envs.reset(seed=seed)
    while len(returns) < num_episodes:
        with torch.no_grad():
            actions = actor.get_action(torch.as_tensor(obs, dtype=torch.float32, device=device))[2]
        obs, _, _, _, infos = envs.step(actions.cpu().numpy())
        if "_episode" in infos:
            returns += infos["episode"]["r"][infos["_episode"]].tolist()
    return returns[:num_episodes]


def fail(message):
    sys.exit(f"{os.path.basename(__file__)}: error: {message}")


if __name__ == "__main__":
    args = tyro.cli(Args)
    script = os.path.basename(__file__)

    # --- check the input before any work ---
    for name in ("total_timesteps", "buffer_size", "batch_size", "policy_frequency", "target_network_frequency",
                 "policy_lr", "q_lr"):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if not args.eval_only and not 0 <= args.learning_starts < args.total_timesteps:
        fail(f"--learning-starts {args.learning_starts} must be in [0, --total-timesteps {args.total_timesteps})")
    if not 0 < args.tau <= 1:
        fail(f"--tau must be in (0, 1], got {args.tau}")
    if not 0 <= args.gamma <= 1:
        fail(f"--gamma must be in [0, 1], got {args.gamma}")
    if args.alpha < 0:
        fail(f"--alpha must be non-negative, got {args.alpha}")
    if args.torch_threads is not None and args.torch_threads <= 0:
        fail(f"--torch-threads must be positive, got {args.torch_threads}")
    if args.checkpoint_frequency < 0:
        fail(f"--checkpoint-frequency must be non-negative (0: never), got {args.checkpoint_frequency}")
    if args.checkpoint_frequency > 0 and args.capture_video:
        fail("--checkpoint-frequency does not go with --capture-video: a resumed run would record over the videos")
    if args.eval_episodes < 0:
        fail(f"--eval-episodes must be non-negative (0 skips), got {args.eval_episodes}")
    if args.eval_only and args.load_model is None:
        fail("--eval-only needs --load-model PATH")
    if args.load_model is not None and not os.path.isfile(args.load_model):
        fail(f"--load-model: no such file {args.load_model!r}")
    if args.resume is not None and not os.path.isfile(args.resume):
        fail(f"--resume: no such file {args.resume!r}")
    if args.capture_video:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must be set before mujoco loads
    try:  # with --capture-video, made as make_env will make it, so that an env that cannot render fails here
        probe = gym.make(args.env_id, render_mode="rgb_array") if args.capture_video else gym.make(args.env_id)
    except Exception as e:  # unknown id, missing module or dependency
        fail(f"cannot make environment {args.env_id!r}: {e}".splitlines()[0])
    space = probe.action_space
    if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1 and space.is_bounded() and (space.low < space.high).all()):
        fail(f"{script} requires a flat Box action space with finite bounds, low < high; {args.env_id} has {space}")
    if not isinstance(probe.observation_space, gym.spaces.Box) or len(probe.observation_space.shape) != 1:
        fail(f"{args.env_id} has observation space {probe.observation_space}; {script} needs a flat Box")
    probe.close()

    # a resumed run goes on in its own run folder from the step its state was saved at, with the same flags
    if args.resume is not None:
        try:
            saved = torch.load(args.resume, map_location="cpu", weights_only=True)
            saved_args, run_name, start_step = saved["args"], saved["run_name"], saved["global_step"]
        except Exception as e:
            fail(f"--resume: cannot load {args.resume!r} as a state file: {type(e).__name__}: {' '.join(str(e).split())}")
        changeable = ("resume", "cuda", "torch_threads")
        changed = [k for k, v in vars(args).items() if k not in changeable and saved_args.get(k) != v]
        if changed:
            fail("--resume: give the flags the run started with: " + ", ".join(
                f"--{k.replace('_', '-')} {saved_args.get(k)} (not {getattr(args, k)})" for k in changed))
        if os.path.realpath(os.path.dirname(args.resume)) != os.path.realpath(f"runs/{run_name}"):
            fail(f"--resume: run it from the folder that holds runs/{run_name}/, the run folder of {args.resume!r}")
    else:
        run_name, start_step = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}", 0

    # --- seeding (a resumed run draws anew, from seed + the step it resumes at) ---
    seed = args.seed + start_step
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    envs = make_envs(args, 1, run_name, args.capture_video and not args.eval_only)
    envs.action_space.seed(seed)

    # step 1: initial policy and Q-function parameters, empty replay buffer
    actor = Actor(envs).to(device)
    qf1 = QNetwork(envs).to(device)
    qf2 = QNetwork(envs).to(device)
    if args.autotune:
        # alpha = exp(log alpha) stays positive; it starts from 1 (CleanRL)
        target_entropy = target_entropy_heuristic(envs.single_action_space)
        log_alpha = torch.zeros(1, device=device, requires_grad=True)
        a_optimizer = optim.Adam([log_alpha], lr=args.q_lr, fused=True)
    if args.load_model is not None:
        try:
            checkpoint = torch.load(args.load_model, map_location=device, weights_only=True)
            bounds = actor.action_scale.clone(), actor.action_bias.clone()  # this env's; loading sets the checkpoint's
            actor.load_state_dict(checkpoint["actor"])
            if not (torch.equal(actor.action_scale, bounds[0]) and torch.equal(actor.action_bias, bounds[1])):
                raise ValueError(f"its actor acts within other action bounds than {args.env_id}'s")
            qf1.load_state_dict(checkpoint["qf1"])
            qf2.load_state_dict(checkpoint["qf2"])
            if args.autotune and not args.eval_only:  # tuning goes on from the checkpoint's alpha
                if checkpoint["alpha"] <= 0:
                    raise ValueError(f"its alpha is {checkpoint['alpha']}, and --autotune needs alpha > 0")
                log_alpha.data.fill_(math.log(checkpoint["alpha"]))
        except Exception as e:
            fail(f"cannot load {args.load_model!r}: {type(e).__name__}: {' '.join(str(e).split())}")
    alpha = log_alpha.exp().item() if args.autotune else args.alpha
    actor_optimizer = optim.Adam(actor.parameters(), lr=args.policy_lr, fused=True)
    q_optimizer = optim.Adam([*qf1.parameters(), *qf2.parameters()], lr=args.q_lr, fused=True)
    obs_dim, act_dim = int(np.prod(envs.single_observation_space.shape)), int(np.prod(envs.single_action_space.shape))
    rb = ReplayBuffer(args.buffer_size, obs_dim, act_dim, device)

    # step 2: target parameters equal to the main parameters (no target policy in SAC)
    qf1_target = copy.deepcopy(qf1)
    qf2_target = copy.deepcopy(qf2)

    # everything a training step reads and changes, saved by --checkpoint-frequency and restored by --resume
    stateful = {"actor": actor, "qf1": qf1, "qf2": qf2, "qf1_target": qf1_target, "qf2_target": qf2_target,
                "actor_optimizer": actor_optimizer, "q_optimizer": q_optimizer, "rb": rb}
    if args.autotune:
        stateful["a_optimizer"] = a_optimizer
    if args.resume is not None:
        try:
            for name, part in stateful.items():
                part.load_state_dict(saved[name])
            if args.autotune:  # log alpha is a tensor of its own, not part of a module
                log_alpha.data.copy_(saved["log_alpha"])
                alpha = log_alpha.exp().item()
        except Exception as e:
            fail(f"--resume: {args.resume!r} does not fit this run: {type(e).__name__}: {' '.join(str(e).split())}")
        print(f"resuming {run_name} at global step {start_step} from {args.resume}", flush=True)

    # the run folder and its logs, made only now that the input and any checkpoint have passed their checks; a
    # resumed run drops what its killed process logged after the saved step (TensorBoard's purge_step)
    writer = SummaryWriter(f"runs/{run_name}", purge_step=start_step + 1 if args.resume is not None else None)
    # at the step a resumed run goes on from: its process's flags (--resume, threads) and versions next to the first's
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()), start_step)
    versions = {"torch": str(torch.__version__), "gymnasium": gym.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    writer.add_text("versions", "\n".join(f"{k}: {v}" for k, v in versions.items()), start_step)

    state_path = f"runs/{run_name}/{args.exp_name}_state.pt"

    start_time = time.time()
    obs, _ = envs.reset(seed=seed)  # a resumed run starts new episodes: the environment's state is not saved
    autoreset = np.zeros(envs.num_envs, dtype=bool)
    num_steps = 0 if args.eval_only else args.total_timesteps
    recent_returns = [] if args.resume is None else saved["recent_returns"]
    saved = None  # the loaded state holds a copy of the replay buffer: free it

    # step 3: repeat
    for global_step in range(start_step + 1, num_steps + 1):
        # step 4: a ~ pi(.|s); uniformly random actions until learning starts
        if global_step <= args.learning_starts:
            actions = envs.action_space.sample()
        else:
            with torch.no_grad():
                actions, _, _ = actor.get_action(torch.as_tensor(obs, dtype=torch.float32, device=device))
            actions = actions.cpu().numpy()

        # steps 5-8: execute a, observe s', r, d, store the transition; gymnasium resets finished envs
        obs, autoreset, infos = step_and_store(envs, rb, obs, actions, autoreset)
        if "_episode" in infos:
            for r, l in zip(infos["episode"]["r"][infos["_episode"]], infos["episode"]["l"][infos["_episode"]]):
                writer.add_scalar("charts/episodic_return", r, global_step)
                writer.add_scalar("charts/episodic_length", l, global_step)
                recent_returns = (recent_returns + [float(r)])[-20:]

        # steps 9-10: one update per environment step once learning starts
        if global_step > args.learning_starts:
            # step 11: a random batch from D
            b_obs, b_actions, b_rewards, b_next_obs, b_terminations = rb.sample(args.batch_size)

            with torch.no_grad():
                # step 12: y = r + gamma (1 - d) (min_i Q_targ,i(s', a') - alpha log pi(a'|s')), d = terminated
                # only (bellman_target); a' is sampled from the CURRENT policy, not stored or from a target actor
                next_actions, next_log_prob, _ = actor.get_action(b_next_obs)
                next_q = torch.min(qf1_target(b_next_obs, next_actions), qf2_target(b_next_obs, next_actions))
                target_q = bellman_target(b_rewards, b_terminations, next_q - alpha * next_log_prob, args.gamma)

            # step 13: one gradient step for both critics on their mean-squared Bellman errors
            qf1_values = qf1(b_obs, b_actions)
            qf2_values = qf2(b_obs, b_actions)
            qf1_loss = F.mse_loss(qf1_values, target_q)
            qf2_loss = F.mse_loss(qf2_values, target_q)
            qf_loss = qf1_loss + qf2_loss
            q_optimizer.zero_grad(set_to_none=True)
            qf_loss.backward()
            q_optimizer.step()

            if global_step % args.policy_frequency == 0:
                # step 14: ascend min_i Q_i(s, a) - alpha log pi(a|s), a ~ pi(.|s) reparameterized, policy_frequency
                # times to make up for the delay. The gradient flows through the critics into the actor, but
                # the critics' own weights must not learn from this loss: frozen while it is built.
                qf1.requires_grad_(False)
                qf2.requires_grad_(False)
                for _ in range(args.policy_frequency):
                    actions_pi, log_prob, _ = actor.get_action(b_obs)
                    min_q_pi = torch.min(qf1(b_obs, actions_pi), qf2(b_obs, actions_pi))
                    actor_loss = (alpha * log_prob - min_q_pi).mean()
                    actor_optimizer.zero_grad(set_to_none=True)
                    actor_loss.backward()
                    actor_optimizer.step()

                    if args.autotune:
                        # the temperature follows the entropy of the policy just used (Haarnoja et al. 2018b)
                        alpha_loss = temperature_loss(log_alpha, log_prob, target_entropy)
                        a_optimizer.zero_grad(set_to_none=True)
                        alpha_loss.backward()
                        a_optimizer.step()
                        alpha = log_alpha.exp().item()
                qf1.requires_grad_(True)
                qf2.requires_grad_(True)

            # step 15: target critics trail the online ones (rho = 1 - tau)
            if global_step % args.target_network_frequency == 0:
                polyak_update(qf1_target, qf1, args.tau)
                polyak_update(qf2_target, qf2, args.tau)

            if global_step % (100 * args.policy_frequency) == 0:  # every 100th burst of actor updates
                scalars = {
                    "losses/qf1_loss": qf1_loss.item(),
                    "losses/qf2_loss": qf2_loss.item(),
                    "losses/qf1_values": qf1_values.mean().item(),
                    "losses/qf2_values": qf2_values.mean().item(),
                    "losses/actor_loss": actor_loss.item(),
                    "charts/alpha": alpha,
                    "charts/entropy": -log_prob.mean().item(),  # one-sample estimate of H(pi(.|s))
                }
                if args.autotune:
                    scalars["losses/alpha_loss"] = alpha_loss.item()
                for tag, value in scalars.items():
                    writer.add_scalar(tag, value, global_step)
                writer.add_scalar("charts/SPS", int((global_step - start_step) / (time.time() - start_time)), global_step)
                if not all(map(math.isfinite, scalars.values())):
                    writer.close()
                    fail(f"training diverged: non-finite loss at global step {global_step}")

        if global_step % max(1, num_steps // 20) == 0 or global_step == num_steps:
            sps = int((global_step - start_step) / (time.time() - start_time))
            mean_return = np.mean(recent_returns) if recent_returns else float("nan")
            print(f"global_step={global_step} SPS={sps} mean_return(last 20)={mean_return:.1f}", flush=True)

        if args.checkpoint_frequency > 0 and global_step % args.checkpoint_frequency == 0 and global_step < num_steps:
            writer.flush()  # the logs up to this step are on disk before the state that resumes after them
            state = {name: part.state_dict() for name, part in stateful.items()}
            state.update(args=vars(args), run_name=run_name, global_step=global_step, recent_returns=recent_returns)
            if args.autotune:
                state["log_alpha"] = log_alpha.detach()
            torch.save(state, f"{state_path}.tmp")
            os.replace(f"{state_path}.tmp", state_path)  # a kill while writing leaves the last state whole
            del state  # and its copy of the replay buffer, not kept until the next checkpoint

    # the loss check above runs only at logging steps: a network that diverged since then must not pass unnoticed
    parameters = nn.utils.parameters_to_vector([*actor.parameters(), *qf1.parameters(), *qf2.parameters()])
    if num_steps > 0 and not (torch.isfinite(parameters).all() and math.isfinite(alpha)):
        writer.close()
        fail(f"training diverged: non-finite parameters after the last update at global step {global_step}")
    if os.path.exists(state_path):  # training is complete: nothing left to resume
        os.remove(state_path)

    if args.save_model and not args.eval_only:
        model_path = f"runs/{run_name}/{args.exp_name}.pt"
        checkpoint = {"actor": actor.state_dict(), "qf1": qf1.state_dict(), "qf2": qf2.state_dict(), "alpha": alpha}
        torch.save({**checkpoint, "args": vars(args), "versions": versions}, model_path)
        print(f"model saved to {model_path}")

    if args.eval_episodes > 0:
        eval_envs = make_envs(args, 1, f"{run_name}/eval", args.capture_video)
        episodic_returns = evaluate(actor, eval_envs, args.eval_episodes, device, args.seed + 1)
        for idx, episodic_return in enumerate(episodic_returns):
            writer.add_scalar("eval/episodic_return", episodic_return, idx)
        print(f"eval: mean return {np.mean(episodic_returns):.1f} over {len(episodic_returns)} deterministic episodes")
        eval_envs.close()

    envs.close()
    writer.close()
