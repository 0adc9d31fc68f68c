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
"""Trust Region Policy Optimization (TRPO), single file.

TRPO takes the largest policy step that keeps the mean KL divergence from the data-collecting policy within delta: a
natural-gradient step, found by conjugate gradient on Fisher-vector products and scaled to the trust region, then a
backtracking line search that accepts it only when the KL constraint holds and the surrogate improves (Schulman et
al. 2015). Spinning Up's pseudocode, step by step as the comments below name them:

    1. input: initial policy parameters theta_0, initial value function parameters phi_0
    2. for k = 0, 1, 2, ... do
    3.   collect trajectories D_k by running pi_k = pi(theta_k) in the environment
    4.   compute rewards-to-go R_t = A_t + V(s_t)
    5.   compute advantage estimates A_t (GAE-lambda, Schulman et al. 2016) based on the value function V_phi_k:
             A_t = sum_l (gamma lambda)^l delta_{t+l}, delta_t = r_t + gamma V(s_{t+1}) - V(s_t), cut at episode ends
    6.   estimate the policy gradient g_k = grad_theta E[ pi_theta(a_t | s_t) / pi_theta_k(a_t | s_t) A_t ]
    7.   use conjugate gradient to compute x_k ~= H_k^-1 g_k, H_k the Hessian of the mean KL (Fisher matrix)
    8.   update the policy by backtracking line search, with j the smallest value that keeps
         KL(pi_theta_k || pi_theta_{k+1}) <= delta and improves the surrogate:
             theta_{k+1} = theta_k + alpha^j sqrt(2 delta / (x_k^T H_k x_k)) x_k
    9.   fit the value function by regression on mean-squared error: phi_{k+1} = argmin E[ (V_phi(s_t) - R_t)^2 ]
   10. end for

References: Schulman et al., "Trust Region Policy Optimization" (2015); Schulman et al., "High-Dimensional
Continuous Control Using GAE" (2016); spinningup.openai.com/en/latest/algorithms/trpo.html

Run:  python trpo.py --env-id HalfCheetah-v4   then   tensorboard --logdir runs
      (or, from this file alone: uv run trpo.py --env-id HalfCheetah-v4)
"""

import copy
import glob
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
import torch.optim as optim
import tyro
from torch.distributions import Categorical, Independent, Normal, kl_divergence
from torch.utils.tensorboard import SummaryWriter

torch.distributions.Distribution.set_default_validate_args(False)  # checks on every call; inputs valid by design


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
    """CPU threads of torch (default: OMP_NUM_THREADS, else one per core); runs sharing the cores should take 1 each"""
    env_id: str = "HalfCheetah-v4"
    """a registered gymnasium id, or `module:EnvId` for an environment of your own package"""
    total_timesteps: int = 1_000_000
    """environment steps to train for, summed over the N environments. gymnasium 1.x spends one step on each automatic
    reset (NEXT_STEP mode); it is counted here but never learned from. CleanRL (gymnasium 0.29) has no such step."""
    gamma: float = 0.99
    """discount factor gamma (0.99 is the usual value for MuJoCo)"""
    capture_video: bool = False
    """record episodes of the first environment to `videos/{run_name}/`"""
    save_model: bool = False
    """write `runs/{run_name}/{exp_name}.pt` (weights, normalization statistics, args, versions)"""
    load_model: str | None = None
    """start from this checkpoint (a `.pt` written by --save-model)"""
    eval_only: bool = False
    """with --load-model: evaluate (and, with --capture-video, record) without training"""
    eval_episodes: int = 10
    """episodes of the deterministic policy to run after training (0 skips)"""
    eval_frequency: int = 0
    """deterministic evaluation of --eval-episodes episodes every this many environment steps during training,
    logged as eval/mean_return and eval/mean_length (0: off). Every 10000 steps with 10 episodes adds 58% to a
    1M-step HalfCheetah-v4 run at one thread (benchmark/eval_cost.py)"""
    track: bool = False
    """mirror the TensorBoard run to Weights & Biases (needs `pip install wandb`)"""
    wandb_project_name: str = "single-file-rl"
    """the Weights & Biases project"""
    wandb_entity: str | None = None
    """the Weights & Biases team or user (default: your default entity)"""

    # --- on-policy ---
    num_envs: int = 4
    """parallel environments N collecting each batch (4 x 512: the batch of 1 x 2048 at ~1.5x the steps per second)"""
    num_steps: int = 512
    """steps per environment per iteration T; a batch holds N * T steps (Spinning Up's steps_per_epoch is 4000)"""
    gae_lambda: float = 0.95
    """GAE lambda: 0 is one-step TD, 1 is Monte Carlo (0.95, the SB3 zoo's MuJoCo TRPO; Spinning Up: 0.97)"""

    # --- TRPO ---
    delta: float = 0.01
    """delta, the trust region: the largest mean KL(pi_old || pi_new) of one step (0.01, Spinning Up)"""
    cg_iters: int = 25
    """conjugate-gradient iterations to approximate H^-1 g (25, the SB3 zoo's MuJoCo TRPO; Spinning Up: 10)"""
    cg_damping: float = 0.1
    """damping added to the Fisher matrix, H + damping I, for a stable solve (0.1, Spinning Up)"""
    backtrack_iters: int = 10
    """most line-search shrinks before the step is given up (10, Spinning Up)"""
    backtrack_coef: float = 0.8
    """alpha, the line search's shrink factor per backtrack (0.8, Spinning Up)"""
    vf_learning_rate: float = 1e-3
    """Adam learning rate of the value function (vf_lr 1e-3, Spinning Up)"""
    anneal_lr: bool = False
    """decay the value function's learning rate linearly to 0 over the run (off: Spinning Up and the SB3 zoo)"""
    train_v_iters: int = 20
    """passes of the value function over each batch, in minibatches of --vf-minibatch-size (20 of 128: the SB3 zoo's
    MuJoCo TRPO, 320 Adam steps a batch; Spinning Up takes 80 full-batch steps)"""
    vf_minibatch_size: int | None = 128
    """minibatch size of the value function's passes (None: one full-batch step per pass, Spinning Up's way).
    The zoo's settings above, measured against Spinning Up's over 5 seeds: benchmark/results/defaults/trpo/"""
    norm_adv: bool = True
    """normalize advantages over the batch (Spinning Up does)"""
    init_log_std: float = -0.69
    """initial log-std of the Gaussian policy over actions in [-1, 1]: log 0.5, as the study recommends (CleanRL and
    SB3: 0, which learned Hopper-v4 worse: benchmark/results/defaults/trpo/)"""


def make_env(env_id, idx, capture_video, run_name):
    def thunk():
        if capture_video and idx == 0:
            env = gym.wrappers.RecordVideo(gym.make(env_id, render_mode="rgb_array"), f"videos/{run_name}")
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)  # raw returns, before any normalization
        if isinstance(env.action_space, gym.spaces.Box):
            # The policy acts in [-1, 1], rescaled onto the env's own bounds and clipped there (the log-prob stays the
            # unclipped sample's). The float32 rescaling can round past asymmetric bounds (Box(-3, 0.1) got 0.10000009):
            # the innermost wrapper clips what reaches the environment to the space's own low/high.
            space = env.action_space
            env = gym.wrappers.TransformAction(env, lambda action: np.clip(action, space.low, space.high), space)
            env = gym.wrappers.ClipAction(gym.wrappers.RescaleAction(env, -1.0, 1.0))
        return env

    return thunk


def make_envs(args, num_envs, run_name, capture_video=False):
    envs = gym.vector.SyncVectorEnv([make_env(args.env_id, i, capture_video, run_name) for i in range(num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    # Running-mean/std observations, rewards scaled by the discounted return's std (both go into the checkpoint).
    # NormalizeReward skips the autoreset step; its return restarts at terminations only (gymnasium's, CleanRL's).
    envs = obs_norm = gym.wrappers.vector.NormalizeObservation(envs)
    envs = gym.wrappers.vector.TransformObservation(envs, lambda obs: np.clip(obs, -10, 10))
    envs = reward_norm = gym.wrappers.vector.NormalizeReward(envs, gamma=args.gamma)
    envs = gym.wrappers.vector.TransformReward(envs, lambda reward: np.clip(reward, -10, 10))
    return envs, obs_norm, reward_norm


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


def mlp(in_dim, out_dim, out_std):
    return nn.Sequential(layer_init(nn.Linear(in_dim, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)), nn.Tanh(),
                         layer_init(nn.Linear(64, out_dim), std=out_std))


class Agent(nn.Module):
    """Separate 64-64 tanh policy and value networks; a Gaussian with state-independent log-std, or a categorical."""

    def __init__(self, envs, init_log_std):
        super().__init__()
        obs_dim = int(np.prod(envs.single_observation_space.shape))
        self.continuous = isinstance(envs.single_action_space, gym.spaces.Box)
        act_dim = int(np.prod(envs.single_action_space.shape)) if self.continuous else envs.single_action_space.n
        self.critic = mlp(obs_dim, 1, out_std=1.0)
        self.actor = mlp(obs_dim, act_dim, out_std=0.01)  # 100x smaller: every action starts near 0 (Andrychowicz)
        if self.continuous:
            self.actor_logstd = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def value(self, obs):
        return self.critic(obs).squeeze(-1)

    def dist(self, obs):
        if self.continuous:  # Independent sums the per-dimension log-probs and entropies of the diagonal Gaussian
            mean = self.actor(obs)
            return Independent(Normal(mean, self.actor_logstd.exp().expand_as(mean)), 1)
        return Categorical(logits=self.actor(obs))


def compute_gae(rewards, values, next_value, terminations, dones, gamma, gae_lambda):
    """GAE(lambda) advantages and value targets for a (T, N) rollout. `values[t]` is V(s_t), `next_value` V(s_T). In
    NEXT_STEP mode the observation after an episode's last step is its TRUE final one: `values[t + 1]` is V(final)."""
    next_values = torch.cat([values[1:], next_value.unsqueeze(0)])
    # bootstrap from V(s_{t+1}) unless s_{t+1} is terminal; a time-limit truncation is NOT terminal
    deltas = rewards + gamma * next_values * (1.0 - terminations) - values
    advantages, lastgaelam = torch.zeros_like(rewards), torch.zeros_like(next_value)
    for t in reversed(range(len(rewards))):
        # the trace stops at every episode end (terminated OR truncated): step t + 1 is the autoreset step then
        lastgaelam = deltas[t] + gamma * gae_lambda * (1.0 - dones[t]) * lastgaelam
        advantages[t] = lastgaelam
    return advantages, advantages + values


def surrogate(logprob, old_logprob, advantages):
    """L(theta) = E[pi_theta(a | s) / pi_old(a | s) A]; at theta_old it is E[A] and its gradient the policy gradient."""
    return ((logprob - old_logprob).exp() * advantages).mean()


def conjugate_gradient(Avp, b, iters, residual_tol=1e-10):
    """Solve A x = b for symmetric positive-definite A, given only the product v -> A v."""
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()  # from x = 0: the residual b - A x and the direction are b
    rr = r @ r
    for _ in range(iters):
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        if rr_new < residual_tol:
            break
        p, rr = r + (rr_new / rr) * p, rr_new
    return x


def fisher_vector_product(kl_grad, params, v, damping):
    """(H + damping I) v, H the Hessian of the mean KL at theta_old (where it is the Fisher matrix), by double
    backpropagation: H v = grad (grad KL . v), `kl_grad` = grad KL having been computed with create_graph=True."""
    hv = torch.autograd.grad(kl_grad @ v, params, retain_graph=True)
    return nn.utils.parameters_to_vector(hv) + damping * v


def line_search(params, x, xHx, surrogate_and_kl, surr_old, delta, backtrack_coef, backtrack_iters):
    """Step 8 from theta_old = `params`: the first step alpha^j sqrt(2 delta / x^T H x) x, j = 0, 1, ... (j = 0 reaches
    the trust region's edge in the quadratic model, 1/2 s^T H s = delta) whose mean KL is <= delta and whose surrogate
    beats `surr_old`, both from `surrogate_and_kl()`. Returns (accepted, backtracks, step size, kl, improvement); if
    none is accepted, theta_old is restored bit for bit and the last three are 0."""
    step_size = math.sqrt(2 * delta / xHx)
    old_params = nn.utils.parameters_to_vector(params).detach()
    with torch.no_grad():
        for backtracks in range(backtrack_iters):
            nn.utils.vector_to_parameters(old_params + backtrack_coef**backtracks * step_size * x, params)
            surr, kl = surrogate_and_kl()
            kl, improvement = kl.item(), (surr - surr_old).item()
            if kl <= delta and improvement > 0:
                return True, backtracks, step_size * backtrack_coef**backtracks, kl, improvement
        nn.utils.vector_to_parameters(old_params, params)
    return False, backtrack_iters, 0.0, 0.0, 0.0


def explained_variance(values, returns):
    """1 - Var[R - V] / Var[R]: 1 is a perfect value function, 0 no better than a constant, < 0 worse; nan
    for a batch of constant returns (Var[R] = 0), where it is undefined (CleanRL's guard)."""
    var_returns = returns.var()
    return float("nan") if var_returns == 0 else (1 - (returns - values).var() / var_returns).item()


def evaluate(agent, envs, num_episodes, device, seed):
    """Raw returns and lengths of `num_episodes` episodes of the deterministic policy (the Gaussian mean, the
    categorical argmax) from a reset with `seed`. It samples nothing: no random stream of training moves."""
    returns, lengths = [], []
    obs, _ = envs.reset(seed=seed)
    while len(returns) < num_episodes:
        with torch.no_grad():
            action = agent.dist(torch.as_tensor(obs, dtype=torch.float32, device=device)).mode
        obs, _, _, _, infos = envs.step(action.cpu().numpy())
        if "_episode" in infos:
            returns += infos["episode"]["r"][infos["_episode"]].tolist()
            lengths += infos["episode"]["l"][infos["_episode"]].tolist()
    return returns[:num_episodes], lengths[:num_episodes]


def load_checkpoint(path, env_id, modules):
    """Load a --save-model checkpoint, read onto the CPU, into `modules` (name -> network, or a normalization
    wrapper's RunningMeanStd: numpy reads it on the CPU); a checkpoint that does not fit ends in a one-line error."""
    saved = env_id
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        saved = checkpoint["args"]["env_id"]
        for name, module in modules.items():
            if isinstance(module, nn.Module):
                module.load_state_dict(checkpoint[name])  # onto the module's device
            else:
                module.mean, module.var = checkpoint[name]["mean"].numpy(), checkpoint[name]["var"].numpy()
                module.count = checkpoint[name]["count"].item()
    except Exception as e:
        trained_on = f" (it was trained on {saved})" if saved != env_id else ""
        fail(f"cannot load {path!r}: {type(e).__name__}: {' '.join(str(e).split())}{trained_on}")
    if saved != env_id:
        print(f"{os.path.basename(__file__)}: warning: {path!r} was trained on {saved}, not {env_id}", file=sys.stderr)
    return checkpoint


def check_args(args):
    """Every check of the input, before any work: a one-line error that names the problem, never a traceback."""
    script, batch_size = os.path.basename(__file__), args.num_envs * args.num_steps
    for name in ("total_timesteps", "num_envs", "num_steps", "train_v_iters", "cg_iters", "backtrack_iters",
                 "vf_learning_rate", "delta", "vf_minibatch_size", "torch_threads"):  # None: full batch, torch threads
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for failed, message in [
        (not (0 <= args.gamma <= 1 and 0 <= args.gae_lambda <= 1),
         f"--gamma and --gae-lambda must be in [0, 1], got {args.gamma} and {args.gae_lambda}"),
        (batch_size < 2,  # a one-step batch has no advantage std to normalize by
         f"a batch of num-envs * num-steps = {batch_size} step is too small: it needs at least 2"),
        (not 0 < args.backtrack_coef < 1, f"--backtrack-coef must be in (0, 1), got {args.backtrack_coef}"),
        (args.cg_damping < 0,  # H + damping I must stay positive definite for conjugate gradient
         f"--cg-damping must be non-negative, got {args.cg_damping}"),
        (not args.eval_only and args.total_timesteps < batch_size,
         f"--total-timesteps {args.total_timesteps} is less than one batch (num-envs * num-steps = {batch_size})"),
        (args.eval_episodes < 0, f"--eval-episodes must be non-negative (0 skips), got {args.eval_episodes}"),
        (args.eval_frequency < 0, f"--eval-frequency must be non-negative (0: off), got {args.eval_frequency}"),
        (args.eval_frequency > 0 and args.eval_episodes == 0, "--eval-frequency needs --eval-episodes > 0"),
        (args.eval_only and args.load_model is None, "--eval-only needs --load-model PATH"),
        (args.load_model is not None and not os.path.isfile(args.load_model),
         f"--load-model: no such file {args.load_model!r}"),
    ]:
        if failed:
            fail(message)
    if args.capture_video:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must be set before mujoco loads
    try:  # with --capture-video, made as make_env will make it, so that an env that cannot render fails here
        probe = gym.make(args.env_id, render_mode="rgb_array") if args.capture_video else gym.make(args.env_id)
    except Exception as e:  # unknown id, missing module or dependency
        fail(f"cannot make environment {args.env_id!r}: {e}".splitlines()[0])
    space, obs_space = probe.action_space, probe.observation_space
    probe.close()
    if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1 and space.is_bounded()
            and (space.low < space.high).all() or isinstance(space, gym.spaces.Discrete) and space.start == 0):
        fail(f"{args.env_id} has action space {space}; {script} supports flat Box actions with finite bounds, "
             "low < high, and Discrete actions from 0")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        fail(f"{args.env_id} has observation space {obs_space}; {script} needs a flat Box")


def fail(message):
    sys.exit(f"{os.path.basename(__file__)}: error: {message}")


if __name__ == "__main__":
    args = tyro.cli(Args)
    check_args(args)
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    batch_size = args.num_envs * args.num_steps

    # --- seeding ---
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    envs, obs_norm, reward_norm = make_envs(args, args.num_envs, run_name, args.capture_video and not args.eval_only)
    envs.action_space.seed(args.seed)
    # an --eval-only run must use the loaded statistics exactly: not even the first reset may shift them
    obs_norm.update_running_mean = reward_norm.update_running_mean = not args.eval_only

    # step 1: initial policy and value function parameters
    agent = Agent(envs, args.init_log_std).to(device)
    if args.load_model is not None:
        load_checkpoint(args.load_model, args.env_id,
                        {"agent": agent, "obs_rms": obs_norm.obs_rms, "return_rms": reward_norm.return_rms})
    if not args.eval_only:  # what training needs and evaluation does not
        # TRPO steps the policy itself (steps 6-8); Adam fits only the value function (fused: one kernel for all)
        policy_params = [p for name, p in agent.named_parameters() if not name.startswith("critic.")]
        vf_optimizer = optim.Adam(agent.critic.parameters(), lr=args.vf_learning_rate, fused=True)
        # rollout storage: what the policy saw and did, on the device; what the environment returned, in numpy
        obs = torch.zeros((args.num_steps, args.num_envs) + envs.single_observation_space.shape, device=device)
        actions = torch.zeros((args.num_steps, args.num_envs) + envs.single_action_space.shape, device=device)
        rewards, terminations, dones = (np.zeros((args.num_steps, args.num_envs), dtype=np.float32) for _ in range(3))
        valid = np.zeros((args.num_steps, args.num_envs), dtype=bool)
        if args.eval_frequency > 0:  # made once, never recording video
            eval_envs, eval_obs_norm, _ = make_envs(args, 1, f"{run_name}/eval")
            eval_obs_norm.update_running_mean = False

    if args.track:
        try:
            import wandb
        except ImportError:
            fail("--track needs wandb, which is not installed: pip install wandb")
        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True, config=vars(args),
                   name=run_name, save_code=True)
    # the run folder and its logs, made only now that the input and any checkpoint have passed their checks
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters",
                    "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    versions = {"torch": str(torch.__version__), "gymnasium": gym.__version__, "numpy": np.__version__,
                "python": sys.version.split()[0]}
    writer.add_text("versions", "\n".join(f"{k}: {v}" for k, v in versions.items()))

    global_step, start_time, recent_returns, last_eval = 0, time.time(), [], ""
    next_obs = torch.as_tensor(envs.reset(seed=args.seed)[0], dtype=torch.float32, device=device)
    next_done = np.zeros(args.num_envs, dtype=bool)
    num_iterations = 0 if args.eval_only else args.total_timesteps // batch_size

    # step 2: for k = 0, 1, 2, ...
    for iteration in range(1, num_iterations + 1):
        if args.anneal_lr:
            vf_optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * args.vf_learning_rate

        # step 3: collect a batch with the current policy
        for step in range(args.num_steps):
            global_step += args.num_envs
            # after an episode's end comes gymnasium's autoreset step: it ignores the action and returns the reset
            # observation with reward 0; not a transition, it is masked out of every loss and statistic below
            obs[step], valid[step] = next_obs, ~next_done
            with torch.inference_mode():
                actions[step] = action = agent.dist(next_obs).sample()
            next_obs, reward, terminated, truncated, infos = envs.step(action.cpu().numpy())
            next_done = terminated | truncated
            rewards[step], terminations[step], dones[step] = reward, terminated, next_done
            # at an episode's end: its TRUE final observation (NEXT_STEP mode), whose value bootstraps a truncation
            next_obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device)
            if "_episode" in infos:
                for r, l in zip(infos["episode"]["r"][infos["_episode"]], infos["episode"]["l"][infos["_episode"]]):
                    writer.add_scalar("charts/episodic_return", r, global_step)
                    writer.add_scalar("charts/episodic_length", l, global_step)
                    recent_returns = (recent_returns + [float(r)])[-20:]

        # steps 4-5: GAE advantages and rewards-to-go; the policy did not change while collecting: one batched call
        with torch.no_grad():
            logprobs, values, next_value = agent.dist(obs).log_prob(actions), agent.value(obs), agent.value(next_obs)
            on_device = lambda x: torch.as_tensor(x, device=device)
            advantages, returns = compute_gae(on_device(rewards), values, next_value, on_device(terminations),
                                              on_device(dones), args.gamma, args.gae_lambda)
        b_inds = on_device(valid).flatten().nonzero().squeeze(-1)  # autoreset steps contribute nothing
        b_obs, b_actions, b_logprobs, b_advantages, b_returns, b_values = (  # VPG steps on the whole batch
            x.flatten(0, 1)[b_inds] for x in (obs, actions, logprobs, advantages, returns, values))
        if len(b_inds) < 2:  # possible only in a batch of a few steps
            writer.close()
            fail(f"only {len(b_inds)} step of the batch is a transition, fewer than the 2 that a batch needs")
        if args.norm_adv:  # over the whole batch that the one step uses (ppo.py: per minibatch)
            b_advantages = (b_advantages - b_advantages.mean()) / (b_advantages.std() + 1e-8)

        # step 6: the policy gradient g of the surrogate at theta_old
        with torch.no_grad():
            old_dist = agent.dist(b_obs)  # pi_theta_k, fixed: no gradient flows into it
        dist = agent.dist(b_obs)
        entropy = dist.entropy().mean()
        surr_old = surrogate(dist.log_prob(b_actions), b_logprobs, b_advantages)
        g = nn.utils.parameters_to_vector(torch.autograd.grad(surr_old, policy_params, retain_graph=True))
        pg_loss = -surr_old  # about 0 with --norm-adv: the step's gain is logged as losses/surrogate_improvement

        # step 7: x ~= H^-1 g by conjugate gradient; H v by double backprop through the mean KL
        mean_kl = kl_divergence(old_dist, dist).mean()
        kl_grad = nn.utils.parameters_to_vector(torch.autograd.grad(mean_kl, policy_params, create_graph=True))
        Hvp = lambda v: fisher_vector_product(kl_grad, policy_params, v, args.cg_damping)
        x = conjugate_gradient(Hvp, g, args.cg_iters)

        # step 8: backtracking line search from the full step; theta_old stays if no shrink is accepted
        def surrogate_and_kl():  # at the parameters the line search has set
            new_dist = agent.dist(b_obs)
            return (surrogate(new_dist.log_prob(b_actions), b_logprobs, b_advantages),
                    kl_divergence(old_dist, new_dist).mean())

        success, backtracks, step_size, kl, improvement = line_search(
            policy_params, x, (x @ Hvp(x)).item(), surrogate_and_kl, surr_old, args.delta, args.backtrack_coef,
            args.backtrack_iters)
        with torch.no_grad():
            logratio = agent.dist(b_obs).log_prob(b_actions) - b_logprobs
            approx_kl = ((logratio.exp() - 1) - logratio).mean()  # k3 estimator of KL(pi_old || pi): unbiased, >= 0
            old_approx_kl = (-logratio).mean()  # k1: unbiased too, of higher variance, can be negative

        # step 9: fit the value function on the rewards-to-go
        for _ in range(args.train_v_iters):
            for mb in (torch.randperm(len(b_obs), device=device).split(args.vf_minibatch_size)
                       if args.vf_minibatch_size else [slice(None)]):
                v_loss = 0.5 * ((agent.value(b_obs[mb]) - b_returns[mb]) ** 2).mean()
                vf_optimizer.zero_grad(set_to_none=True)
                v_loss.backward()
                vf_optimizer.step()

        if not torch.isfinite(nn.utils.parameters_to_vector(agent.parameters())).all():
            writer.close()
            fail(f"training diverged: non-finite parameters after the update at global step {global_step}")
        sps = int(global_step / (time.time() - start_time))
        for tag, value in {
            "charts/learning_rate": vf_optimizer.param_groups[0]["lr"], "losses/value_loss": v_loss.item(),
            "losses/policy_loss": pg_loss.item(), "losses/entropy": entropy.item(),
            "losses/old_approx_kl": old_approx_kl.item(), "losses/approx_kl": approx_kl.item(),
            "losses/kl": kl, "losses/surrogate_improvement": improvement,  # Spinning Up's DeltaLossPi; 0 if rejected
            "charts/step_size": step_size, "charts/backtracks": backtracks,
            "charts/line_search_success": float(success),
            "losses/explained_variance": explained_variance(b_values, b_returns), "charts/SPS": sps,
        }.items():
            writer.add_scalar(tag, value, global_step)
        if (args.eval_frequency > 0
                and global_step // args.eval_frequency > (global_step - batch_size) // args.eval_frequency):
            eval_obs_norm.obs_rms = copy.deepcopy(obs_norm.obs_rms)  # frozen: evaluation never updates training's
            eval_returns, eval_lengths = evaluate(agent, eval_envs, args.eval_episodes, device, args.seed + 1)
            writer.add_scalar("eval/mean_return", np.mean(eval_returns), global_step)
            writer.add_scalar("eval/mean_length", np.mean(eval_lengths), global_step)
            last_eval = f" eval={np.mean(eval_returns):.1f}"
        if iteration % max(1, num_iterations // 20) == 0 or iteration == num_iterations:
            mean_return = np.mean(recent_returns) if recent_returns else float("nan")
            print(f"global_step={global_step} SPS={sps} mean_return(last 20)={mean_return:.1f}{last_eval}", flush=True)

    if args.save_model and not args.eval_only:
        model_path = f"runs/{run_name}/{args.exp_name}.pt"
        # in the dtypes numpy holds them: as_tensor of the Python float count would round it to float32
        stats = lambda rms: {k: torch.as_tensor(np.asarray(getattr(rms, k))) for k in ("mean", "var", "count")}
        torch.save({"agent": agent.state_dict(), "obs_rms": stats(obs_norm.obs_rms),
                    "return_rms": stats(reward_norm.return_rms), "args": vars(args), "versions": versions}, model_path)
        print(f"model saved to {model_path}")

    if args.eval_episodes > 0:  # the training statistics, frozen: evaluation must not shift the normalization
        final_envs, final_obs_norm, _ = make_envs(args, 1, f"{run_name}/eval", args.capture_video)
        final_obs_norm.obs_rms, final_obs_norm.update_running_mean = obs_norm.obs_rms, False
        episodic_returns, _ = evaluate(agent, final_envs, args.eval_episodes, device, args.seed + 1)
        for idx, episodic_return in enumerate(episodic_returns):
            writer.add_scalar("eval/episodic_return", episodic_return, idx)
        print(f"eval: mean return {np.mean(episodic_returns):.1f} over {len(episodic_returns)} deterministic episodes")
        final_envs.close()

    envs.close()
    if args.eval_frequency > 0 and not args.eval_only:
        eval_envs.close()
    writer.close()
    if args.track and args.capture_video:  # the recorded episodes, beside the mirrored TensorBoard scalars
        for path in sorted(glob.glob(f"videos/{run_name}/**/*.mp4", recursive=True)):
            wandb.log({"videos": wandb.Video(path)})
