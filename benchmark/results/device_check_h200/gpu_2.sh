#!/usr/bin/env bash
# The rest of the device check (td3, sac) and the script tests on the GPU; the wheels go on the venv's path by a .pth
# file, since the tests set PYTHONPATH for their subprocesses.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
echo /tmp/site > "$(python3 -c 'import site; print(site.getsitepackages()[0])')/carried.pth"
export MUJOCO_GL=disable PYTHONUNBUFFERED=1
t0=$(date +%s)
ALGOS="td3 sac" PYTHON=python3 OUT_DIR=/tmp/dc timeout 105 bash tests/device_check.sh > $OUT/device_check2.log 2>&1; echo "device_check rc=$? in $(( $(date +%s) - t0 )) s" >> $OUT/device_check2.log
cat $OUT/device_check2.log
t0=$(date +%s)
timeout 100 python3 -m pytest -q -n 15 -p no:cacheprovider tests/test_offpolicy.py tests/test_onpolicy_scripts.py tests/test_benchmark_speed.py > $OUT/pytest_gpu2.log 2>&1; echo "pytest rc=$? in $(( $(date +%s) - t0 )) s" >> $OUT/pytest_gpu2.log
tail -30 $OUT/pytest_gpu2.log
