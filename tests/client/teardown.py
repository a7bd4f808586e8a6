"""Run a training script as `__main__`, then leave without the interpreter's teardown.

torch 2.13's gloo can abort a process during that teardown, after `destroy_process_group()`
("terminate called without an active exception", then SIGABRT or SIGSEGV), with or without
lrhub. The README's DDP example with lrhub taken out aborted on a rank in 7 of 31 torchrun
runs on a loaded 2-core machine; with lrhub, 5 of 40. By then the training, every collective
and every request are over. Whatever the script does, raising included, happens before the
exit, so nothing the tests check is skipped:

    torchrun ... -m tests.client.teardown SCRIPT [ARGS...]
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import NoReturn


def leave() -> NoReturn:
    """End this process now with status 0, its output flushed, skipping the teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    script, *arguments = sys.argv[1:]
    sys.argv = [script, *arguments]
    runpy.run_path(script, run_name="__main__")
    leave()


if __name__ == "__main__":
    main()
