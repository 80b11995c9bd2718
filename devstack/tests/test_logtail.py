from pathlib import Path

from devstack.errors import StackError
from devstack.logtail import tail


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log) == [f"line {i}" for i in range(80, 100)]
    assert tail(log, 3) == ["line 97", "line 98", "line 99"]


def test_tail_of_a_large_log_reads_only_its_end(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("x" * 1_000_000 + "\n" + "".join(f"end {i}\n" for i in range(5)))
    assert tail(log, 5) == [f"end {i}" for i in range(5)]


def test_tail_of_short_or_missing_log(tmp_path: Path) -> None:
    (tmp_path / "short").write_text("only\n")
    assert tail(tmp_path / "short") == ["only"]
    assert tail(tmp_path / "missing") == []


def test_stack_error_names_the_component_and_shows_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("booting\nerror: unknown service 'kafka'\n")
    error = StackError("kafka", "process exited before 127.0.0.1:1 answered", log)
    text = str(error)
    assert text.startswith("kafka: process exited")
    assert text.endswith("error: unknown service 'kafka'")
    assert f"last 2 lines of {log}" in text
