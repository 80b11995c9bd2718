"""Last lines of a log, read from the end so a large log costs no more than a small one."""

from pathlib import Path

DEFAULT_LINES = 20
_CHUNK = 8192


def tail(path: Path, lines: int = DEFAULT_LINES) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            end = handle.tell()
            buffer = b""
            position = end
            while position > 0 and buffer.count(b"\n") <= lines:
                step = min(_CHUNK, position)
                position -= step
                handle.seek(position)
                buffer = handle.read(step) + buffer
    except OSError:
        return []
    text = buffer.decode("utf-8", errors="replace")
    return text.splitlines()[-lines:] if lines > 0 else []
