#!/usr/bin/env python3
"""The comparison of issue 22 §7: the sums a year's December report rests on, done the way a
data clerk's script would do them with pandas and openpyxl — read every county file of a folder
(xlsx with a title block, CSV in UTF-8 or GBK, JSON), keep each unit's latest month, sum the
year to date per unit and for the whole area, and write a workbook.

Usage: same_sums.py INBOX OUT.xlsx   (run by `cargo bench --bench scale`; files named bad_* are
the generator's deliberately broken ones and are skipped, as fayuan refuses them.)
"""

import json
import sys
from pathlib import Path

import pandas as pd

HEADERS = {
    "单位代码": "unit_code", "单位名称": "unit_name", "统计月份": "period",
    "受理审批案件数": "cases_approved", "其中：刑事": "cases_criminal",
    "其中：民事": "cases_civil", "其中：行政": "cases_admin", "办结案件数": "cases_closed",
    "法律帮助人次": "legal_help", "到位经费（元）": "funds_received",
    "业务经费支出（元）": "spend_total", "办案补贴及直接费用（元）": "spend_case",
    "投诉件数": "complaints", "投诉办结件数": "complaints_resolved", "回访人数": "surveyed",
    "满意人数": "satisfied", "填报人": "reporter", "填报日期": "reported_on",
}
FIGURES = [
    "cases_approved", "cases_criminal", "cases_civil", "cases_admin", "cases_closed",
    "legal_help", "funds_received", "spend_total", "spend_case", "complaints",
    "complaints_resolved", "surveyed", "satisfied",
]


def read_xlsx(path):
    raw = pd.read_excel(path, header=None, dtype=str, engine="openpyxl")
    at = raw.index[raw.apply(lambda r: (r == "单位代码").any(), axis=1)][0]
    df = raw.iloc[at + 1:].copy()
    df.columns = raw.iloc[at]
    return df.dropna(how="all")


def read_csv(path):
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gbk")
    from io import StringIO
    return pd.read_csv(StringIO(text), dtype=str)


def read_json(path):
    return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))


def main(inbox, out):
    frames = []
    for path in sorted(Path(inbox).iterdir()):
        if path.name.startswith("bad_"):
            continue
        suffix = path.suffix.lower()
        if suffix == ".xlsx":
            df = read_xlsx(path)
        elif suffix == ".csv":
            df = read_csv(path)
        elif suffix == ".json":
            df = read_json(path)
        else:
            continue
        frames.append(df.rename(columns=HEADERS))
    rows = pd.concat(frames, ignore_index=True)
    rows["period"] = rows["period"].astype(str).str[:7]
    for f in FIGURES:
        rows[f] = pd.to_numeric(rows[f].astype(str).str.replace(",", ""), errors="coerce")
    rows = rows[rows["period"].str.startswith("2025")]
    latest = rows.drop_duplicates(["unit_code", "period"], keep="last")
    ytd = latest.groupby(["unit_code", "unit_name"], sort=False)[FIGURES].sum().reset_index()
    ytd["months"] = latest.groupby("unit_code", sort=False).size().values
    total = {"unit_code": "total", "unit_name": "合计", **ytd[FIGURES + ["months"]].sum().to_dict()}
    ytd = pd.concat([ytd, pd.DataFrame([total])], ignore_index=True)
    ytd["case_share"] = ytd["spend_case"] / ytd["spend_total"]
    ytd["satisfaction"] = ytd["satisfied"] / ytd["surveyed"]
    with pd.ExcelWriter(out, engine="openpyxl") as w:
        ytd.to_excel(w, sheet_name="汇总", index=False)
        latest.to_excel(w, sheet_name="明细", index=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
