#!/usr/bin/env bash
# One device call: install the carried wheels, device_check.sh on the GPU, the test suite on the GPU, speed.py --cuda.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit 1
export MUJOCO_GL=disable PYTHONUNBUFFERED=1  # no libEGL there: no rendering
COMMIT=$(cat .dev/COMMIT)
python3 -c "import torch, gymnasium, mujoco, tyro, tensorboard, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'gymnasium', gymnasium.__version__, 'mujoco', mujoco.__version__, 'tyro', tyro.__version__, 'tensorboard', tensorboard.__version__, 'numpy', numpy.__version__)" 2>&1 | tee $OUT/versions.txt
nproc | tee -a $OUT/versions.txt; grep -m1 "model name" /proc/cpuinfo | tee -a $OUT/versions.txt; ls -d .git 2>&1 | tee -a $OUT/versions.txt
t0=$(date +%s)
PYTHON=python3 OUT_DIR=/tmp/dc timeout 200 bash tests/device_check.sh > $OUT/device_check.log 2>&1; echo "device_check rc=$? in $(( $(date +%s) - t0 )) s" | tee -a $OUT/device_check.log
cat $OUT/device_check.log
tar czf $OUT/dc_logs.tgz -C /tmp/dc . --exclude='*.pt' --exclude='events.*' 2>/dev/null
t0=$(date +%s)
timeout 150 python3 -m pytest -q -n 14 -p no:cacheprovider --deselect tests/test_video.py > $OUT/pytest_gpu.log 2>&1; echo "pytest rc=$? in $(( $(date +%s) - t0 )) s" | tee -a $OUT/pytest_gpu.log
tail -25 $OUT/pytest_gpu.log
t0=$(date +%s)
timeout 165 python3 benchmark/speed.py --cuda --repeats 1 --no-sb3 --onpolicy-steps 20480 --commit "$COMMIT" --out $OUT/speed_gpu.md > $OUT/speed.log 2>&1; echo "speed rc=$? in $(( $(date +%s) - t0 )) s" | tee -a $OUT/speed.log
cat $OUT/speed.log
