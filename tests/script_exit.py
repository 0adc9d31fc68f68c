"""Running a script in the test process up to its error exit, for the tests of bad input."""

import os
import runpy
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
