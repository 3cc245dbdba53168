#!/usr/bin/env python3
"""verify-export.py - check an `orderstore export` against the Online Retail CSV.

usage: verify-export.py CSV_OR_XZ EXPORT_JSONL [--month YYYY-MM] [--show N]

From the CSV (plain or xz, recognised by the xz magic bytes) it computes per invoice
(InvoiceNo): the number of rows, the sum of Quantity, the sum of Quantity * UnitPrice
and the earliest InvoiceDate. From the export (one JSON document per line, as
`orderstore export` writes them, each with "order_id" and "lines" of {"quantity",
"unit_price"}) it computes the same from the documents, then compares:

  - the same set of invoices (with --month: only invoices whose created_at, the earliest
    InvoiceDate, falls in that month, on both sides);
  - per invoice the same line count and quantity sum (exact), the same amount sum within
    1e-6 relative (plus 1e-9 absolute, for sums that are zero), and, when the document
    has one, the same created_at.

Prints a summary and the first differences; exits 0 when everything matches, 1 on any
mismatch, 2 on usage or read errors. Standard library only. Rows the importer would
reject (wrong column count, Quantity or UnitPrice that do not parse) are skipped here too
and counted in the summary.
"""
import argparse
import csv
import io
import json
import lzma
import math
import re
import sys

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country"]
XZ_MAGIC = b"\xfd7zXZ\x00"
REL_TOL = 1e-6
ABS_TOL = 1e-9
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class Totals:
    """Line count, quantity sum and amounts of one invoice."""
    __slots__ = ("lines", "qty", "amounts", "created")

    def __init__(self):
        self.lines = 0
        self.qty = 0
        self.amounts = []
        self.created = None

    def amount(self):
        return math.fsum(self.amounts)


def open_text(path):
    raw = open(path, "rb")
    magic = raw.read(len(XZ_MAGIC))
    raw.seek(0)
    if magic == XZ_MAGIC:
        raw = lzma.open(raw, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def read_csv(path):
    """Returns ({invoice: Totals}, rows, skipped)."""
    invoices, rows, skipped = {}, 0, 0
    with open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        if header != HEADER:
            raise ValueError(f"{path}: bad header {header!r}, expected {','.join(HEADER)}")
        for row in reader:
            if not row:
                continue
            rows += 1
            try:
                if len(row) != 8 or not row[0] or not DATE_RE.match(row[4]):
                    raise ValueError
                qty = int(row[3])
                price = float(row[5])
            except ValueError:
                skipped += 1
                continue
            t = invoices.get(row[0])
            if t is None:
                t = invoices[row[0]] = Totals()
            t.lines += 1
            t.qty += qty
            t.amounts.append(qty * price)
            created = row[4].replace(" ", "T")
            if t.created is None or created < t.created:
                t.created = created
    return invoices, rows, skipped


def read_export(path, problems):
    """Returns {order_id: Totals}; format errors go to problems."""
    docs = {}
    with open(path, "r", encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                oid = doc["order_id"]
                t = Totals()
                for ln in doc["lines"]:
                    q, p = ln["quantity"], ln["unit_price"]
                    if isinstance(q, bool) or not isinstance(q, int) or \
                            isinstance(p, bool) or not isinstance(p, (int, float)):
                        raise TypeError("quantity must be an integer, unit_price a number")
                    t.lines += 1
                    t.qty += q
                    t.amounts.append(q * p)
                t.created = doc.get("created_at")
            except (ValueError, KeyError, TypeError) as e:
                problems.append(f"export line {no}: not an order document ({e})")
                continue
            if oid in docs:
                problems.append(f"export line {no}: order {oid} appears twice")
                continue
            docs[oid] = t
    return docs


def close(a, b):
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="Online Retail CSV, plain or xz-compressed")
    ap.add_argument("export", help="JSON lines written by `orderstore export`")
    ap.add_argument("--month", help="only invoices created in this month (YYYY-MM)")
    ap.add_argument("--show", type=int, default=10, help="differences to list (default 10)")
    args = ap.parse_args()
    if args.month is not None and not re.match(r"^\d{4}-\d{2}$", args.month):
        ap.error("--month must be YYYY-MM")

    problems = []
    try:
        csv_inv, rows, skipped = read_csv(args.csv)
        exp = read_export(args.export, problems)
    except (OSError, ValueError, EOFError, lzma.LZMAError, csv.Error) as e:
        print(f"verify-export: {e}", file=sys.stderr)
        return 2

    if args.month:
        def keep(t):
            return t.created is not None and t.created[:7] == args.month
        csv_inv = {k: t for k, t in csv_inv.items() if keep(t)}
        no_date = [k for k, t in exp.items() if t.created is None]
        problems.extend(f"order {k}: no created_at in the export" for k in no_date[:args.show])
        exp = {k: t for k, t in exp.items() if keep(t)}

    for k in sorted(set(csv_inv) - set(exp)):
        problems.append(f"order {k}: in the CSV, missing from the export")
    for k in sorted(set(exp) - set(csv_inv)):
        problems.append(f"order {k}: in the export, not in the CSV")
    matched = 0
    for k in sorted(set(csv_inv) & set(exp)):
        a, b = csv_inv[k], exp[k]
        diffs = []
        if a.lines != b.lines:
            diffs.append(f"lines {b.lines} != {a.lines}")
        if a.qty != b.qty:
            diffs.append(f"quantity sum {b.qty} != {a.qty}")
        if not close(a.amount(), b.amount()):
            diffs.append(f"amount sum {b.amount():.6f} != {a.amount():.6f}")
        if b.created is not None and b.created != a.created:
            diffs.append(f"created_at {b.created} != {a.created}")
        if diffs:
            problems.append(f"order {k}: export has " + ", ".join(diffs) + " (CSV)")
        else:
            matched += 1

    scope = f" created in {args.month}" if args.month else ""
    print(f"csv: {rows} rows ({skipped} skipped as malformed), {len(csv_inv)} invoices{scope}")
    print(f"export: {len(exp)} documents{scope}; {matched} match the CSV")
    if problems:
        print(f"MISMATCH: {len(problems)} differences; first {min(len(problems), args.show)}:")
        for p in problems[:args.show]:
            print(f"  {p}")
        return 1
    print("ok: same invoices, line counts, quantity sums and amount sums")
    return 0


if __name__ == "__main__":
    sys.exit(main())
