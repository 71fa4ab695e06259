"""Quoting for SQL built from user-controlled names (model ids, column names from YAML).

Values travel as bound parameters wherever DuckDB allows it; identifiers and file paths cannot be
bound, so they go through these two functions and nowhere else.
"""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
