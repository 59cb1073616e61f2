"""Fills in a fayuan template the way a county would, with a program that is not fayuan
(openpyxl): `python3 fill_template.py TEMPLATE OUT VALUES.json`.

VALUES.json: {"月报": {"受理审批案件数": 12, ...}, "执行情况": {"本月工作进展": "...", ...}}
Cells are found by their labels (the header row of 月报, column A of 执行情况), never by
position, so the test checks the template's layout too.
"""
import json
import sys

import openpyxl


def main(template, out, values_path):
    with open(values_path, encoding="utf-8") as f:
        values = json.load(f)
    book = openpyxl.load_workbook(template)
    sheet = book["月报"]
    header_row = next(
        r for r in range(1, 10) if any(c.value == "单位代码" for c in sheet[r])
    )
    # A header may wrap in its cell ("业务经费支出\n（元）"); a person reads it as one label.
    columns = {c.value.replace("\n", ""): c.column for c in sheet[header_row] if c.value}
    for label, value in values.get("月报", {}).items():
        sheet.cell(row=header_row + 1, column=columns[label], value=value)
    narrative = book["执行情况"]
    for label, text in values.get("执行情况", {}).items():
        row = next(r for r in range(1, 20) if narrative.cell(row=r, column=1).value == label)
        narrative.cell(row=row, column=2, value=text)
    book.save(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
