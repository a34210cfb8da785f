"""Result files: written atomically as readable JSON, loaded and validated."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .fields import ResultError
from .result import Result


def result_filename(result: Result) -> str:
    """<scenario name>-<datapath>-<UTC yyyymmddThhmmssZ>.json, the time being the run's."""
    return f"{result.name}-{result.datapath}-{result.provenance.time:%Y%m%dT%H%M%SZ}.json"


def write_result(result: Result, out_dir: Path) -> Path:
    """Write result as pretty JSON into out_dir (created), atomically; return the path.

    Never overwrites: a second result with the same name and second gets "-2", "-3"...
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = _dumps(result.to_dict()) + "\n"
    stem = result_filename(result)[:-len(".json")]
    path, n = out_dir / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = out_dir / f"{stem}-{n}.json"
    # temp file in the same directory so os.replace is a rename within one file system:
    # a reader sees either no file or the whole file, even after a crash
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(out_dir)  # make the rename itself durable
    return path


def load_result(path) -> Result:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ResultError(path, None, f"cannot read: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ResultError(path, None, f"not valid JSON: {e}") from None
    try:
        return Result.from_dict(data)
    except ResultError as e:
        raise ResultError(path, e.key, e.reason) from None


def load_results(paths) -> list[Result]:
    """Load each file; a directory stands for the *.json files in it, in name order."""
    files = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return [load_result(f) for f in files]


def _dumps(v, indent: str = "") -> str:
    """JSON, one key per line, but a list of scalars on one line: a histogram bucket or
    a core list reads as [2048.0, 250000], not as four lines."""
    inner = indent + "  "
    if isinstance(v, dict) and v:
        items = (f"{inner}{json.dumps(str(k))}: {_dumps(x, inner)}" for k, x in v.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(v, (list, tuple)) and any(isinstance(x, (dict, list, tuple)) for x in v):
        return "[\n" + ",\n".join(inner + _dumps(x, inner) for x in v) + f"\n{indent}]"
    # allow_nan=False: NaN/Infinity are not JSON; jq or a browser would reject the file
    return json.dumps(v, allow_nan=False)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not every platform/file system lets a directory be opened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
