"""Writing CSV and XLSX safely (SECURITY.md C2): a cell that starts like a formula is made
inert, and XLSX files are written in constant memory, split into sheets at Excel's limit."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576  # Excel's rows per sheet, the header included


def inert(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(fh: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """UTF-8 CSV (the caller opens the file with ``encoding="utf-8-sig"`` for Excel)."""
    writer = csv.writer(fh)
    writer.writerow([inert(h) for h in header])
    count = 0
    for row in rows:
        writer.writerow([inert("" if v is None else v) for v in row])
        count += 1
    return count


def csv_template(columns: Mapping[str, str], example: Mapping[str, str], chinese: bool) -> str:
    """An import file's template: the header row (each column's Chinese header from
    ``columns``, or its canonical name) and the ``example`` row, UTF-8 with a BOM so that
    Excel opens it right."""
    buf = io.StringIO()
    buf.write("\ufeff")
    header = [columns[n] if chinese else n for n in columns]
    write_csv(buf, header, [[example[n] for n in columns]])
    return buf.getvalue()


class XlsxStream:
    """Rows appended one by one to an XLSX file in constant memory."""

    def __init__(self, path: str, header: Sequence[str], sheet: str = "Sheet") -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(
            path, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        )
        self.header, self.sheet_name = list(header), sheet
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = self.sheet_name if self.sheets == 1 else f"{self.sheet_name} {self.sheets}"
        self.ws = self.book.add_worksheet(name[:31])
        self.ws.write_row(0, 0, self.header)
        self.row = 1

    def append(self, values: Sequence[Any]) -> None:
        if self.row >= XLSX_MAX_ROWS:
            self._new_sheet()
        self.ws.write_row(self.row, 0, ["" if v is None else inert(v) for v in values])
        self.row += 1

    def close(self) -> None:
        self.book.close()
