"""ddpg.py: published DDPG updates the actor and the targets after every critic update; --policy-frequency 2 (TD3's
delay, CleanRL's DDPG default) stays available."""

import pytest

import ddpg
from tests.test_td3 import optimizer_steps, run_to_the_end


@pytest.mark.parametrize("delay", [None, "2"])
def test_actor_and_targets_follow_every_critic_update_by_default(delay, tmp_path, monkeypatch):
    assert ddpg.Args().policy_frequency == 1
    monkeypatch.chdir(tmp_path)
    args = ["--env-id", "Pendulum-v1", "--total-timesteps", "300", "--learning-starts", "100", "--batch-size", "16",
            "--eval-episodes", "0"]
    ns, logged = run_to_the_end("ddpg", *args, *(["--policy-frequency", delay] if delay else []))
    assert optimizer_steps(ns["q_optimizer"]) == 200
    assert optimizer_steps(ns["actor_optimizer"]) == (100 if delay else 200)
    assert [step for step, _ in logged["losses/actor_loss"]] == [200, 300]
