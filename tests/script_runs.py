"""Running the algorithm scripts from the tests: as a user does (a subprocess, from a folder where its runs/
lands), two such runs at a time, or in the test process: up to an error exit, to the end with what it logs, or with
the arguments its training loop passes to its own functions."""

import contextlib
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


def run_logged(script, *args, on_scalar=None):
    """Run `script`.py in this process with a stand-in SummaryWriter that keeps what the script logs; return the
    script's variables when it closes the writer at the end, and {tag: [(step, value), ...]}. `on_scalar(tag, step,
    variables)`, if given, sees each scalar as it is logged, with the script's variables at that moment: what an
    evaluation left behind, say, read just after it logs its result."""
    namespace, logged = {}, {}

    class Writer:
        def __init__(self, log_dir, *_, **__):
            os.makedirs(log_dir, exist_ok=True)  # as SummaryWriter does: --save-model writes its checkpoint there

        def add_scalar(self, tag, value, step):
            logged.setdefault(tag, []).append((step, float(value)))
            if on_scalar is not None:
                on_scalar(tag, step, sys._getframe(1).f_globals)  # the caller: the script's top level

        def add_text(self, *_, **__):
            pass

        def flush(self):
            pass

        def close(self):
            namespace.update(sys._getframe(1).f_globals)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("torch.utils.tensorboard.SummaryWriter", Writer)
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        runpy.run_path(os.path.join(ROOT, f"{script}.py"), run_name="__main__")
    return namespace, logged


@contextlib.contextmanager
def calls_of(script, names, on_call):
    """While the block runs `script`.py in this process: `on_call(name, arguments, caller)` at each call of one of the
    script's own functions (or methods) named in `names`, with the arguments as the function received them and the
    caller's frame (its f_locals, or f_globals at the top level), so that a test sees what the training loop passes.
    on_call may return a function, which then receives the call's return value."""
    path = os.path.join(ROOT, f"{script}.py")

    def tracer(frame, event, _):
        code = frame.f_code
        if event != "call" or code.co_name not in names or code.co_filename != path:
            return None  # no line-by-line tracing: the script runs at near full speed
        on_return = on_call(code.co_name, {name: frame.f_locals[name] for name in code.co_varnames[: code.co_argcount]},
                            frame.f_back)
        if on_return is None:
            return None

        def local(frame, event, value):  # traces this one call's lines, up to its return
            if event == "return":
                on_return(value)
            return local

        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
