"""--capture-video in each of the seven scripts: MuJoCo episodes rendered headless (the scripts set
MUJOCO_GL=egl) into mp4 files, of training in videos/{run_name}/ and of the evaluation in videos/{run_name}/eval/."""

from tests.script_runs import run_side_by_side

ONPOLICY = ["--num-envs", "2", "--num-steps", "128", "--total-timesteps", "256"]
OFFPOLICY = ["--total-timesteps", "150", "--learning-starts", "100", "--batch-size", "32"]
SCRIPT_ARGS = {**dict.fromkeys(["vpg", "trpo"], ONPOLICY),
               **dict.fromkeys(["ppo", "ppo_penalty"], [*ONPOLICY, "--num-minibatches", "4"]),  # not 32 of 8 steps
               **dict.fromkeys(["ddpg", "td3", "sac"], OFFPOLICY)}


def test_every_script_records_training_and_evaluation_videos(tmp_path):
    # InvertedPendulum's episodes last a few steps under an untrained policy: quick to render, and several of them
    common = ["--env-id", "InvertedPendulum-v4", "--capture-video", "--eval-episodes", "1"]
    cases = [(script, [*args, *common], tmp_path / script) for script, args in SCRIPT_ARGS.items()]
    for _, _, cwd in cases:
        cwd.mkdir()
    for (script, _, cwd), result in zip(cases, run_side_by_side(cases)):
        assert result.returncode == 0, (script, result.stderr[-3000:])
        (run_dir,) = (cwd / "runs").iterdir()
        videos = cwd / "videos" / run_dir.name
        # RecordVideo's default schedule records the episodes 0, 1, 8, 27, ... (the cubes) of the first environment
        for mp4 in ("rl-video-episode-0.mp4", "rl-video-episode-1.mp4", "eval/rl-video-episode-0.mp4"):
            assert (videos / mp4).read_bytes()[4:8] == b"ftyp", (script, mp4)  # an MP4 file starts with its ftyp box
