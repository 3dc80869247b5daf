"""The claims report: ``results.json`` (``amx.report.results``) and the self-contained
``claims.html`` rendered from it (``amx.report.html``); ``amx report`` re-renders the HTML."""

from amx.report.html import render, write_html
from amx.report.results import load_results, write_results

__all__ = ["load_results", "render", "write_html", "write_results"]
