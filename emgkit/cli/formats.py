"""``emgkit formats``: list the file formats emgkit reads.

Example::

    emgkit formats
"""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("formats", help="list supported file formats")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io import supported_formats

    print("format       extensions             description")
    print(supported_formats())
    return 0
