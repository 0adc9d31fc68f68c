"""Running the algorithm scripts from the tests: as a user does (a subprocess, from a folder where its runs/
lands), two such runs at a time, or in the test process up to an error exit."""

import os
import runpy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script_env():
    """The scripts' environment: the repository first on the import path (the toy environments of tests/), any
    PYTHONPATH already set after it (where the packages come from there), and one OpenMP thread."""
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def run(script, *args, cwd):
    """Run `script`.py with `args` from `cwd`, at one thread: the tests run two scripts at a time on a small
    machine, where OpenMP threads would wait on each other."""
    return subprocess.run([sys.executable, os.path.join(ROOT, f"{script}.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=script_env())


def run_side_by_side(cases):
    """run() for each (script, args, cwd) of `cases`, two at a time (CI has two cores); the results in order."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda case: run(case[0], *case[1], cwd=case[2]), cases))


def exit_message(script, *args):
    """Run `script`.py in this process with `args` up to its sys.exit(message): sys.exit(str) is what prints
    "<script>.py: error: ..." with exit status 1 and no traceback (each test file also checks this end to end in a
    subprocess); any other exception fails the test. Much faster than a subprocess per case."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(os.path.join(ROOT, f"{script}.py"), run_name="__main__")
    message = exit_info.value.code
    assert isinstance(message, str) and len(message.splitlines()) == 1, message
    return message
