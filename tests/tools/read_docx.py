#!/usr/bin/env python3
"""Reads a .docx as a person's Word would (python-docx, not fayuan) and prints what the tests
check as JSON: the page and its margins in millimetres, each paragraph with its runs' sizes and
East Asian fonts, the footers, the tables.

Usage: read_docx.py FILE.docx
"""

import json
import sys

import docx
from docx.oxml.ns import qn


def east_asia(run):
    rpr = run._element.rPr
    fonts = rpr.find(qn("w:rFonts")) if rpr is not None else None
    return fonts.get(qn("w:eastAsia")) if fonts is not None else None


def main(path):
    d = docx.Document(path)
    s = d.sections[0]
    out = {
        "page_mm": [round(s.page_width.mm, 1), round(s.page_height.mm, 1)],
        "margins_mm": {
            "top": round(s.top_margin.mm, 1),
            "bottom": round(s.bottom_margin.mm, 1),
            "left": round(s.left_margin.mm, 1),
            "right": round(s.right_margin.mm, 1),
        },
        "paragraphs": [
            {
                "text": p.text,
                "align": str(p.alignment) if p.alignment is not None else None,
                "runs": [
                    {"size": r.font.size.pt if r.font.size else None, "east_asia": east_asia(r)}
                    for r in p.runs
                ],
            }
            for p in d.paragraphs
        ],
        "footers": [
            {
                "text": "".join(t.text or "" for t in f._element.iter(qn("w:t"))),
                "page_field": any(
                    "PAGE" in (i.text or "") for i in f._element.iter(qn("w:instrText"))
                ),
                "align": str(f.paragraphs[0].alignment),
            }
            for f in [s.footer, s.even_page_footer]
        ],
        "even_and_odd": d.settings.odd_and_even_pages_header_footer,
        "tables": [
            {
                "header_repeats": t.rows[0]._tr.trPr is not None
                and t.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None,
                "rows": [[c.text for c in r.cells] for r in t.rows],
            }
            for t in d.tables
        ],
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
