"""The update-only speed bound of the off-policy scripts: training steps per second of the updates alone.

CleanRL's update structure in plain PyTorch (256-256 ReLU networks, batch 256, Adam, polyak targets,
the policy updated every 2nd step), on random batches and without an environment, acting or a buffer.
An off-policy script that does one such update per environment step cannot run faster than this, so
`script SPS / bound` is about the fraction of the step that the update takes (issue: >= 90%). The
scripts' own update is a little cheaper than CleanRL's (results/speed.md), so they can pass 100%.

    python benchmark/update_bound.py sac --obs-dim 17 --act-dim 6 --threads 1 --steps 1000 [--cuda]
"""

import argparse
import copy
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(in_dim, out_dim):
    return nn.Sequential(nn.Linear(in_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, out_dim))


class Q(nn.Module):
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.net = mlp(obs_dim + act_dim, 1)

    def forward(self, obs, act):
        return self.net(torch.cat([obs, act], 1)).squeeze(-1)


def make_step(algo, obs_dim, act_dim, batch, gamma=0.99, tau=0.005, policy_frequency=2):
    """One training step of `algo` as CleanRL writes it, on a fresh random batch each call."""
    critics = [Q(obs_dim, act_dim) for _ in range(1 if algo == "ddpg" else 2)]
    targets = copy.deepcopy(critics)
    actor = mlp(obs_dim, 2 * act_dim if algo == "sac" else act_dim)
    actor_target = copy.deepcopy(actor)
    q_opt = torch.optim.Adam([p for q in critics for p in q.parameters()], lr=1e-3)
    pi_opt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    log_alpha = torch.zeros(1, requires_grad=True)
    a_opt = torch.optim.Adam([log_alpha], lr=1e-3)
    counter = [0]

    def sac_pi(obs):
        mean, log_std = actor(obs).chunk(2, -1)
        log_std = -5 + 3.5 * (torch.tanh(log_std) + 1)
        u = mean + log_std.exp() * torch.randn_like(mean)
        logp = torch.distributions.Normal(mean, log_std.exp()).log_prob(u) - 2 * (0.6931 - u - F.softplus(-2 * u))
        return torch.tanh(u), logp.sum(-1)

    def polyak(pairs):
        for target, online in pairs:
            for tp, p in zip(target.parameters(), online.parameters()):
                tp.data.copy_(tau * p.data + (1 - tau) * tp.data)

    def step():
        counter[0] += 1
        obs, act, next_obs = torch.randn(batch, obs_dim), torch.rand(batch, act_dim) * 2 - 1, torch.randn(batch, obs_dim)
        rew, done = torch.randn(batch), torch.zeros(batch)
        alpha = log_alpha.exp().item()
        with torch.no_grad():
            if algo == "sac":
                next_act, next_logp = sac_pi(next_obs)
                next_q = torch.min(*[t(next_obs, next_act) for t in targets]) - alpha * next_logp
            elif algo == "td3":
                noise = (torch.randn_like(act) * 0.2).clamp(-0.5, 0.5)
                next_act = (torch.tanh(actor_target(next_obs)) + noise).clamp(-1, 1)
                next_q = torch.min(*[t(next_obs, next_act) for t in targets])
            else:
                next_q = targets[0](next_obs, torch.tanh(actor_target(next_obs)))
            y = rew + gamma * (1 - done) * next_q
        q_loss = sum(F.mse_loss(q(obs, act), y) for q in critics)
        q_opt.zero_grad()
        q_loss.backward()
        q_opt.step()
        if algo == "sac":  # SAC's targets follow every step; DDPG's and TD3's with the delayed actor
            polyak(zip(targets, critics))
        if counter[0] % policy_frequency:
            return
        for _ in range(policy_frequency if algo == "sac" else 1):
            if algo == "sac":
                pi_act, logp = sac_pi(obs)
                pi_loss = (alpha * logp - torch.min(*[q(obs, pi_act) for q in critics])).mean()
            else:
                pi_loss = -critics[0](obs, torch.tanh(actor(obs))).mean()
            pi_opt.zero_grad()
            pi_loss.backward()
            pi_opt.step()
            if algo == "sac":
                a_loss = (-log_alpha.exp() * (logp.detach() - act_dim)).mean()
                a_opt.zero_grad()
                a_loss.backward()
                a_opt.step()
        if algo != "sac":
            polyak([*zip(targets, critics), (actor_target, actor)])

    # for the tests: what the steps update
    step.parts = {"critics": critics, "targets": targets, "q_opt": q_opt, "pi_opt": pi_opt, "a_opt": a_opt}
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo", choices=["ddpg", "td3", "sac"])
    parser.add_argument("--obs-dim", type=int, default=17)
    parser.add_argument("--act-dim", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=1000, help="timed steps, after 100 of burn-in")
    parser.add_argument("--cuda", action="store_true", help="networks, batches and updates on the GPU")
    args = parser.parse_args()
    if args.cuda and not torch.cuda.is_available():
        parser.error("--cuda: torch sees no GPU here")
    torch.set_num_threads(args.threads)
    if args.cuda:
        torch.set_default_device("cuda")
    sync = torch.cuda.synchronize if args.cuda else lambda: None
    step = make_step(args.algo, args.obs_dim, args.act_dim, args.batch_size)
    for _ in range(100):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    print(f"{args.steps / (time.perf_counter() - start):.1f}")


if __name__ == "__main__":
    main()
