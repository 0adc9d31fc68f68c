"""Vanilla Policy Gradient (VPG, REINFORCE with a learned baseline and GAE), single file.

VPG collects a batch with the current policy and takes ONE gradient step on the advantage-weighted
log-probability of the actions taken; a value function, fitted by several regression steps per batch,
supplies the baseline (Williams 1992; Sutton et al. 2000). Spinning Up's pseudocode, step by step as
the comments below name them:

    1. input: initial policy parameters theta_0, initial value function parameters phi_0
    2. for k = 0, 1, 2, ... do
    3.   collect trajectories D_k by running pi_k = pi(theta_k) in the environment
    4.   compute rewards-to-go R_t
    5.   compute advantage estimates A_t (GAE-lambda) based on the value function V_phi_k
    6.   estimate the policy gradient and take one step of Adam on it:
             g_k = E[ grad_theta log pi_theta(a_t | s_t) A_t ]
    7.   fit the value function by regression on mean-squared error (several full-batch steps):
             phi_{k+1} = argmin E[ (V_phi(s_t) - R_t)^2 ]
    8. end for

GAE (Schulman et al. 2016): delta_t = r_t + gamma V(s_{t+1}) - V(s_t),
A_t = sum_l (gamma lambda)^l delta_{t+l}, cut at episode ends; R_t = A_t + V(s_t).

References: Williams, "Simple Statistical Gradient-Following Algorithms" (1992); Sutton et al., "Policy
Gradient Methods for RL with Function Approximation" (2000); Schulman et al., "High-Dimensional
Continuous Control Using GAE" (2016); spinningup.openai.com/en/latest/algorithms/vpg.html

Run:  python vpg.py --env-id HalfCheetah-v4      then   tensorboard --logdir runs
"""

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
from torch.distributions import Categorical, Independent, Normal
from torch.utils.tensorboard import SummaryWriter

# the distributions' argument checks cost ~5% of a step; the inputs here are valid by construction
torch.distributions.Distribution.set_default_validate_args(False)


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
    """a registered gymnasium id, or `module:EnvId` for an environment of your own package"""
    total_timesteps: int = 1_000_000
    """environment steps to train for, summed over the parallel environments and counting gymnasium's autoreset
    step after each episode (as CleanRL does)"""
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

    # --- on-policy ---
    num_envs: int = 1
    """parallel environments N collecting each batch. 4 (with --num-steps 512, the same batch) runs 1.5-2x
    as fast on a CPU, and PPO learned HalfCheetah and Hopper as well with it (benchmark/results/ppo_num_envs/)"""
    num_steps: int = 2048
    """steps per environment per iteration T; a batch holds N * T steps (1 x 2048, as in ppo.py; Spinning Up's
    steps_per_epoch is 4000)"""
    gae_lambda: float = 0.97
    """GAE lambda: 0 is one-step TD, 1 is Monte Carlo (0.97, Spinning Up's VPG)"""

    # --- VPG ---
    learning_rate: float = 3e-4
    """Adam learning rate of the policy (pi_lr 3e-4, Spinning Up)"""
    vf_learning_rate: float = 1e-3
    """Adam learning rate of the value function (vf_lr 1e-3, Spinning Up)"""
    anneal_lr: bool = True
    """decay both learning rates linearly to 0 over the run (as CleanRL's PPO; Spinning Up keeps them constant)"""
    train_v_iters: int = 80
    """full-batch gradient steps on the value function per batch (80, Spinning Up)"""
    norm_adv: bool = True
    """normalize advantages over the batch (Spinning Up does)"""
    init_log_std: float = -0.69
    """initial log standard deviation of the Gaussian policy: log 0.5, smaller than CleanRL's 0 (std 1),
    as the study recommends; actions live in [-1, 1] (rescaled to the environment's bounds)"""


def make_env(env_id, idx, capture_video, run_name):
    def thunk():
        if capture_video and idx == 0:
            env = gym.wrappers.RecordVideo(gym.make(env_id, render_mode="rgb_array"), f"videos/{run_name}")
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)  # raw returns, before any normalization
        if isinstance(env.action_space, gym.spaces.Box):
            # The policy acts in [-1, 1] per dimension; RescaleAction maps that onto the environment's
            # own bounds (Pendulum +-2, Humanoid +-0.4). The Gaussian sample is unbounded, so it is
            # clipped there; the log-prob stays that of the unclipped sample.
            env = gym.wrappers.RescaleAction(env, -1.0, 1.0)
            env = gym.wrappers.ClipAction(env)
        return env

    return thunk


def make_envs(args, num_envs, run_name, capture_video=False):
    envs = gym.vector.SyncVectorEnv(
        [make_env(args.env_id, i, capture_video, run_name) for i in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    # Running mean/std normalization of observations and scaling of rewards by the std of the
    # discounted return (gamma of the run); both statistics are shared by the N environments and
    # go into the checkpoint. The vector NormalizeReward skips the NEXT_STEP autoreset step. Its running
    # return restarts only at a termination: across a time-limit truncation it runs on into the next
    # episode (gymnasium's choice, CleanRL's setup; baselines' VecNormalize restarts at either).
    envs = gym.wrappers.vector.NormalizeObservation(envs)
    envs = gym.wrappers.vector.TransformObservation(envs, lambda obs: np.clip(obs, -10, 10))
    envs = gym.wrappers.vector.NormalizeReward(envs, gamma=args.gamma)
    envs = gym.wrappers.vector.TransformReward(envs, lambda reward: np.clip(reward, -10, 10))
    return envs


def get_wrapper(envs, wrapper_type):
    while not isinstance(envs, wrapper_type):
        envs = envs.env
    return envs


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


def mlp(in_dim, out_dim, out_std):
    return nn.Sequential(
        layer_init(nn.Linear(in_dim, 64)), nn.Tanh(),
        layer_init(nn.Linear(64, 64)), nn.Tanh(),
        layer_init(nn.Linear(64, out_dim), std=out_std),
    )


class Agent(nn.Module):
    """Separate policy and value networks, 64-64 tanh; Gaussian policy with a state-independent
    log-std for Box actions, categorical for Discrete actions."""

    def __init__(self, envs, init_log_std):
        super().__init__()
        obs_dim = int(np.prod(envs.single_observation_space.shape))
        self.continuous = isinstance(envs.single_action_space, gym.spaces.Box)
        act_dim = int(np.prod(envs.single_action_space.shape)) if self.continuous else envs.single_action_space.n
        self.critic = mlp(obs_dim, 1, out_std=1.0)
        # a 100x smaller last policy layer starts every action near the mean 0 (Andrychowicz et al.)
        self.actor = mlp(obs_dim, act_dim, out_std=0.01)
        if self.continuous:
            self.actor_logstd = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def value(self, obs):
        return self.critic(obs).squeeze(-1)

    def dist(self, obs):
        if self.continuous:
            mean = self.actor(obs)
            # Independent sums the per-dimension log-probs and entropies of the diagonal Gaussian
            return Independent(Normal(mean, self.actor_logstd.exp().expand_as(mean)), 1)
        return Categorical(logits=self.actor(obs))


def compute_gae(rewards, values, next_value, terminations, dones, gamma, gae_lambda):
    """GAE(lambda) advantages and value targets for a (T, N) rollout.

    `values[t]` is V(s_t) and `next_value` is V(s_T). In NEXT_STEP autoreset mode, the observation
    after an episode's last step is its TRUE final observation, so `values[t + 1]` (or `next_value`)
    is V(final state) there."""
    next_values = torch.cat([values[1:], next_value.unsqueeze(0)])
    # Bootstrap from V(s_{t+1}) unless s_{t+1} is terminal. A time-limit truncation is NOT
    # terminal: its value is bootstrapped from the true final observation.
    deltas = rewards + gamma * next_values * (1.0 - terminations) - values
    advantages = torch.zeros_like(rewards)
    lastgaelam = torch.zeros_like(next_value)
    for t in reversed(range(len(rewards))):
        # The trace stops at every episode end (terminated OR truncated): step t + 1 is then the
        # autoreset step, not the continuation of this episode.
        lastgaelam = deltas[t] + gamma * gae_lambda * (1.0 - dones[t]) * lastgaelam
        advantages[t] = lastgaelam
    return advantages, advantages + values


def policy_gradient_loss(logprob, advantages):
    """-E[log pi(a | s) A]: its gradient is minus the policy-gradient estimate g. The advantages are
    constants here (computed without gradient), so no gradient reaches the value function."""
    return -(logprob * advantages).mean()


def evaluate(agent, envs, num_episodes, device, seed):
    """Deterministic policy (the Gaussian mean, the categorical argmax); raw episodic returns."""
    returns = []
    obs, _ = envs.reset(seed=seed)
    while len(returns) < num_episodes:
        with torch.no_grad():
            action = agent.dist(torch.as_tensor(obs, dtype=torch.float32, device=device)).mode
        obs, _, _, _, infos = envs.step(action.cpu().numpy())
        if "_episode" in infos:
            returns += infos["episode"]["r"][infos["_episode"]].tolist()
    return returns[:num_episodes]


def fail(message):
    sys.exit(f"{os.path.basename(__file__)}: error: {message}")


if __name__ == "__main__":
    args = tyro.cli(Args)
    script = os.path.basename(__file__)

    # --- check the input before any work ---
    batch_size = args.num_envs * args.num_steps
    for name in ("total_timesteps", "num_envs", "num_steps", "train_v_iters", "learning_rate", "vf_learning_rate"):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if batch_size < 2:  # a one-step batch has no advantage std to normalize by
        fail(f"a batch of num-envs * num-steps = {batch_size} step is too small: it needs at least 2")
    if not (0 <= args.gamma <= 1 and 0 <= args.gae_lambda <= 1):
        fail(f"--gamma and --gae-lambda must be in [0, 1], got {args.gamma} and {args.gae_lambda}")
    if not args.eval_only and args.total_timesteps < batch_size:
        fail(f"--total-timesteps {args.total_timesteps} is less than one batch (num-envs * num-steps = {batch_size})")
    if args.torch_threads is not None and args.torch_threads <= 0:
        fail(f"--torch-threads must be positive, got {args.torch_threads}")
    if args.eval_episodes < 0:
        fail(f"--eval-episodes must be non-negative (0 skips), got {args.eval_episodes}")
    if args.eval_only and args.load_model is None:
        fail("--eval-only needs --load-model PATH")
    if args.load_model is not None and not os.path.isfile(args.load_model):
        fail(f"--load-model: no such file {args.load_model!r}")
    if args.capture_video:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must be set before mujoco loads
    try:  # with --capture-video, made as make_env will make it, so that an env that cannot render fails here
        probe = gym.make(args.env_id, render_mode="rgb_array") if args.capture_video else gym.make(args.env_id)
    except Exception as e:  # unknown id, missing module or dependency
        fail(f"cannot make environment {args.env_id!r}: {e}".splitlines()[0])
    space = probe.action_space
    box = isinstance(space, gym.spaces.Box) and len(space.shape) == 1 and space.is_bounded() and (space.low < space.high).all()
    if not (box or isinstance(space, gym.spaces.Discrete) and space.start == 0):
        fail(f"{args.env_id} has action space {space}; {script} supports flat Box actions with finite bounds, low < high, "
             "and Discrete actions from 0")
    if not isinstance(probe.observation_space, gym.spaces.Box) or len(probe.observation_space.shape) != 1:
        fail(f"{args.env_id} has observation space {probe.observation_space}; {script} needs a flat Box")
    probe.close()

    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"

    # --- seeding ---
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    envs = make_envs(args, args.num_envs, run_name, args.capture_video and not args.eval_only)
    envs.action_space.seed(args.seed)
    obs_norm = get_wrapper(envs, gym.wrappers.vector.NormalizeObservation)
    reward_norm = get_wrapper(envs, gym.wrappers.vector.NormalizeReward)
    # an --eval-only run must use the loaded statistics exactly: not even the first reset may shift them
    obs_norm.update_running_mean = reward_norm.update_running_mean = not args.eval_only

    # step 1: initial policy and value function parameters
    agent = Agent(envs, args.init_log_std).to(device)
    policy_params = [p for name, p in agent.named_parameters() if not name.startswith("critic.")]
    optimizer = optim.Adam(policy_params, lr=args.learning_rate, fused=True)  # fused: one kernel for all parameters
    vf_optimizer = optim.Adam(agent.critic.parameters(), lr=args.vf_learning_rate, fused=True)
    if args.load_model is not None:
        try:
            # onto the CPU, where numpy can read the statistics; load_state_dict copies the weights to the device
            checkpoint = torch.load(args.load_model, map_location="cpu", weights_only=True)
            agent.load_state_dict(checkpoint["agent"])
            for rms, stats in ((obs_norm.obs_rms, checkpoint["obs_rms"]), (reward_norm.return_rms, checkpoint["return_rms"])):
                rms.mean, rms.var, rms.count = stats["mean"].numpy(), stats["var"].numpy(), stats["count"].item()
        except Exception as e:
            fail(f"cannot load {args.load_model!r}: {type(e).__name__}: {' '.join(str(e).split())}")

    # rollout storage, preallocated: what the policy saw and did on the training device; what the
    # environment returned in numpy, moved to the device once per batch (no per-step copies)
    obs_shape = envs.single_observation_space.shape
    obs = torch.zeros((args.num_steps, args.num_envs) + obs_shape, device=device)
    actions = torch.zeros((args.num_steps, args.num_envs) + envs.single_action_space.shape, device=device)
    rewards, terminations, dones = (np.zeros((args.num_steps, args.num_envs), dtype=np.float32) for _ in range(3))
    valid = np.zeros((args.num_steps, args.num_envs), dtype=bool)

    # the run folder and its logs, made only now that the input and any checkpoint have passed their checks
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    versions = {"torch": str(torch.__version__), "gymnasium": gym.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    writer.add_text("versions", "\n".join(f"{k}: {v}" for k, v in versions.items()))

    global_step = 0
    start_time = time.time()
    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device)
    next_done = np.zeros(args.num_envs, dtype=bool)
    num_iterations = 0 if args.eval_only else args.total_timesteps // batch_size
    recent_returns = []

    # step 2: for k = 0, 1, 2, ...
    for iteration in range(1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * args.learning_rate
            vf_optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * args.vf_learning_rate

        # step 3: collect a batch with the current policy
        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step] = next_obs
            # After an episode ends, the env's next step is gymnasium's autoreset step: it ignores the
            # action and returns the reset observation with reward 0. It is not a transition of the
            # environment, so it is masked out of every loss and statistic below.
            valid[step] = ~next_done
            with torch.inference_mode():
                action = agent.dist(next_obs).sample()
            actions[step] = action
            next_obs, reward, terminated, truncated, infos = envs.step(action.cpu().numpy())
            rewards[step], terminations[step] = reward, terminated
            next_done = terminated | truncated
            dones[step] = next_done
            # at an episode's end this is its TRUE final observation (NEXT_STEP mode); its value
            # bootstraps a truncated episode
            next_obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device)
            if "_episode" in infos:
                for r, l in zip(infos["episode"]["r"][infos["_episode"]], infos["episode"]["l"][infos["_episode"]]):
                    writer.add_scalar("charts/episodic_return", r, global_step)
                    writer.add_scalar("charts/episodic_length", l, global_step)
                    recent_returns = (recent_returns + [float(r)])[-20:]

        # steps 4-5: GAE advantages and rewards-to-go
        with torch.no_grad():
            # the policy did not change while collecting: the log-probs and values of the whole batch
            # come from one batched call each
            logprobs, values, next_value = agent.dist(obs).log_prob(actions), agent.value(obs), agent.value(next_obs)
            on_device = lambda x: torch.as_tensor(x, device=device)
            advantages, returns = compute_gae(on_device(rewards), values, next_value, on_device(terminations), on_device(dones),
                                              args.gamma, args.gae_lambda)

        b_inds = on_device(valid).flatten().nonzero().squeeze(-1)  # autoreset steps contribute nothing
        b_obs = obs.reshape((-1,) + obs_shape)
        b_actions = actions.reshape((-1,) + envs.single_action_space.shape)
        b_logprobs, b_advantages, b_returns, b_values = logprobs.flatten(), advantages.flatten(), returns.flatten(), values.flatten()
        b_obs, b_actions, b_logprobs, b_advantages, b_returns = (x[b_inds] for x in (b_obs, b_actions, b_logprobs, b_advantages, b_returns))
        if len(b_inds) < 2:  # possible only in a batch of a few steps
            writer.close()
            fail(f"only {len(b_inds)} step of the batch is a transition, fewer than the 2 that a batch needs")
        if args.norm_adv:
            b_advantages = (b_advantages - b_advantages.mean()) / (b_advantages.std() + 1e-8)

        # step 6: one policy-gradient step on the whole batch
        dist = agent.dist(b_obs)
        pg_loss = policy_gradient_loss(dist.log_prob(b_actions), b_advantages)
        entropy = dist.entropy().mean()
        optimizer.zero_grad(set_to_none=True)
        pg_loss.backward()
        optimizer.step()
        with torch.no_grad():
            logratio = agent.dist(b_obs).log_prob(b_actions) - b_logprobs
            approx_kl = ((logratio.exp() - 1) - logratio).mean()  # k3 estimator of KL(pi_old || pi): unbiased, >= 0

        # step 7: fit the value function on the rewards-to-go
        for _ in range(args.train_v_iters):
            v_loss = 0.5 * ((agent.value(b_obs) - b_returns) ** 2).mean()
            vf_optimizer.zero_grad(set_to_none=True)
            v_loss.backward()
            vf_optimizer.step()

        if not torch.isfinite(nn.utils.parameters_to_vector(agent.parameters())).all():
            writer.close()
            fail(f"training diverged: non-finite parameters after the update at global step {global_step}")
        y_pred, y_true = b_values[b_inds], b_returns
        explained_var = 1 - (y_true - y_pred).var() / y_true.var()
        sps = int(global_step / (time.time() - start_time))
        writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
        writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
        writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
        writer.add_scalar("losses/entropy", entropy.item(), global_step)
        writer.add_scalar("losses/approx_kl", approx_kl.item(), global_step)
        writer.add_scalar("losses/explained_variance", explained_var.item(), global_step)
        writer.add_scalar("charts/SPS", sps, global_step)
        if iteration % max(1, num_iterations // 20) == 0 or iteration == num_iterations:
            mean_return = np.mean(recent_returns) if recent_returns else float("nan")
            print(f"global_step={global_step} SPS={sps} mean_return(last 20)={mean_return:.1f}", flush=True)

    if args.save_model and not args.eval_only:
        model_path = f"runs/{run_name}/{args.exp_name}.pt"
        stats = lambda rms: {"mean": torch.as_tensor(rms.mean), "var": torch.as_tensor(rms.var), "count": torch.tensor(rms.count)}
        torch.save({"agent": agent.state_dict(), "obs_rms": stats(obs_norm.obs_rms), "return_rms": stats(reward_norm.return_rms),
                    "args": vars(args), "versions": versions}, model_path)
        print(f"model saved to {model_path}")

    if args.eval_episodes > 0:
        # the training statistics, frozen: evaluation must not shift the normalization
        eval_envs = make_envs(args, 1, f"{run_name}/eval", args.capture_video)
        eval_norm = get_wrapper(eval_envs, gym.wrappers.vector.NormalizeObservation)
        eval_norm.obs_rms, eval_norm.update_running_mean = obs_norm.obs_rms, False
        episodic_returns = evaluate(agent, eval_envs, args.eval_episodes, device, args.seed + 1)
        for idx, episodic_return in enumerate(episodic_returns):
            writer.add_scalar("eval/episodic_return", episodic_return, idx)
        print(f"eval: mean return {np.mean(episodic_returns):.1f} over {len(episodic_returns)} deterministic episodes")
        eval_envs.close()

    envs.close()
    writer.close()
