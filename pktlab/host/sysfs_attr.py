"""The one path host steps write sysfs through. Tests replace write_attr
(tests/fakesys.py) to record each write and play the kernel's part; write() turns a
failure into a StepError naming the step, the value, the file and the errno."""
from __future__ import annotations

import errno as _errno
import os
from pathlib import Path

from ..errors import StepError


def write_attr(root: str, rel: str, value: str) -> None:
    """Write `value` to the sysfs attribute `rel` (relative to root), as `echo -n value > file`
    does. Raises OSError with the errno."""
    fd = os.open(Path(root, rel), os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write(root: str, rel: str, value: str, what: str) -> None:
    try:
        write_attr(root, rel, value)
    except OSError as e:
        code = e.errno or _errno.EIO
        raise StepError(f"{what}: writing {value.strip() or 'an empty line'!r} to /{rel}: "
                        f"{os.strerror(code)} ({_errno.errorcode.get(code, code)})") from None
