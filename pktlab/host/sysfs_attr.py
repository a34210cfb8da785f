"""Writing one sysfs attribute for a host step: through inventory.sysfs.write_attr
(the single write path tests watch), a failure a StepError naming the step, the
value, the file and the errno."""
from __future__ import annotations

import errno as _errno
import os

from ..errors import StepError
from ..inventory import sysfs as _sysfs


def write(root: str, rel: str, value: str, what: str) -> None:
    try:
        _sysfs.write_attr(root, rel, value)
    except OSError as e:
        code = e.errno or _errno.EIO
        raise StepError(f"{what}: writing {value.strip() or 'an empty line'!r} to /{rel}: "
                        f"{os.strerror(code)} ({_errno.errorcode.get(code, code)})") from None
