"""The markdown table writer every report goes through."""

from __future__ import annotations

import pytest

from kernbench.bench import markdown


def test_a_table_is_header_separator_and_rows():
    text = markdown.table(["kernel", "time"], [["entropy", "1 ms"], ["softmax", 2]])
    assert text == ("| kernel | time |\n"
                    "|---|---|\n"
                    "| entropy | 1 ms |\n"
                    "| softmax | 2 |")


def test_alignment_marks_the_separator_row():
    lines = markdown.table_lines(["a", "b", "c", "d"], [], align=[None, "left", "right",
                                                                  "center"])
    assert lines == ["| a | b | c | d |", "|---|:---|---:|:---:|"]


def test_an_empty_cell_is_a_single_space():
    assert markdown.row(["1", "", "x"]) == "| 1 | | x |"


def test_a_cell_cannot_break_the_table():
    assert markdown.cell("a | b\nc") == "a / b c"
    assert markdown.cell(None) == "None"


@pytest.mark.parametrize("call, words", [
    (lambda: markdown.table(["a", "b"], [["1"]]), r"rows\[0\] has 1 cells for 2 columns"),
    (lambda: markdown.table(["a"], [], align=["left", "right"]), "align has 2 entries"),
    (lambda: markdown.table(["a"], [], align=["middle"]), "'middle'"),
    (lambda: markdown.separator(0), "columns must be at least 1"),
])
def test_a_malformed_table_is_refused(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_the_reports_tables_are_written_here(monkeypatch):
    """The report's tables go through this module: a writer that marks its rows shows up."""
    from kernbench.bench import report_data as rd
    from kernbench.bench import report_headline as rh

    calls = []
    real = markdown.table

    def counting(header, rows, align=None):
        calls.append(list(header))
        return real(header, rows, align)

    monkeypatch.setattr(markdown, "table", counting)
    rh.headline_table(rd.Results([]))
    assert calls == [["case (working set)", "best peer"]]
