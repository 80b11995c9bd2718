from devstack.status_table import StatusRow, format_status_table


def test_status_table_aligns_columns() -> None:
    table = format_status_table(
        [
            StatusRow("postgres", "REUSED", None, 5432, "127.0.0.1:5432"),
            StatusRow("inventory-service", "UP", 4242, 8003, "http://127.0.0.1:8003"),
        ]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["COMPONENT", "STATE", "PID", "PORT", "ADDRESS"]
    assert lines[1].split() == ["postgres", "REUSED", "-", "5432", "127.0.0.1:5432"]
    assert lines[2].split() == ["inventory-service", "UP", "4242", "8003", "http://127.0.0.1:8003"]
    # Every column starts at the same offset on every line.
    for header in ("STATE", "PID", "PORT", "ADDRESS"):
        column = lines[0].index(header)
        assert all(line[column - 2 : column] == "  " for line in lines)
    assert all(line == line.rstrip() for line in lines)
