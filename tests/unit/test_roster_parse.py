"""flows.roster: a roster file's rows checked one by one, with line numbers, NIPs never shown."""

from __future__ import annotations

from datetime import date

import pytest

from flows.roster import RosterFileError, parse_roster

TODAY = date(2026, 11, 29)
AGENCIES = ("dinkes", "disdik")
NIP = "198503152010011001"


def test_good_rows_are_normalised() -> None:
    text = (
        f"nip,nama,instansi\n{NIP[:8]} {NIP[8:14]} {NIP[14]} {NIP[15:]},  Ａhmad  Fauzi ,dinkes\n"
    )
    parsed = parse_roster(text, AGENCIES, TODAY)
    assert parsed.problems == []
    [row] = parsed.rows
    assert (row.line, row.nip, row.full_name, row.agency_code) == (2, NIP, "Ahmad Fauzi", "dinkes")


def test_each_bad_row_has_its_line_and_every_reason() -> None:
    text = "\n".join(
        [
            "agency;name;nip",  # any order, semicolons
            f"dinkes;Siti;{NIP}",
            "",
            "nosuch;X;20001301",  # line 4: three problems
            f"disdik;Budi;{NIP}",  # line 5: duplicate
            f"disdik;Budi;{NIP[:8]}20991{NIP[13:]}",  # line 6: the service start is not a date
        ]
    )
    parsed = parse_roster(text, AGENCIES, TODAY)
    assert [r.line for r in parsed.rows] == [2]
    problems = {p.line: p for p in parsed.problems}
    assert set(problems) == {4, 5, 6}
    assert problems[4].reasons == ("nip:format", "name:too_short", "agency:unknown")
    assert problems[4].nip_masked == "********"  # nothing of an unreadable NIP
    assert problems[5].reasons == ("nip:duplicate_of_line_2",)
    assert problems[5].nip_masked == "1985***********001"
    assert problems[6].reasons and all(r.startswith("nip:") for r in problems[6].reasons)


@pytest.mark.parametrize("text", ["", "nip,name\n1,2\n", 'nip,name,agency\n"open quote,x,dinkes\n'])
def test_a_file_that_cannot_be_read_is_refused_whole(text: str) -> None:
    with pytest.raises(RosterFileError):
        parse_roster(text, AGENCIES, TODAY)
