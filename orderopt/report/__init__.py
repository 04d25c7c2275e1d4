"""Reports of an order search: text tables, the dashboard note and plotly cards, PNG figures.

Everything is read back from the study's storage, so a report can be made from any machine that
reaches the storage, during or after the search. :func:`publish` writes the Markdown note and the
plotly cards that optuna-dashboard shows on the study page; it overwrites the previous ones.
Modules: :mod:`~orderopt.report.history` (rounds and tournament, read from the trials),
:mod:`~orderopt.report.diagnostics` (what the profile could not see), :mod:`~orderopt.report.text`
(text, Markdown, JSON) and :mod:`~orderopt.report.figures` (plotly and matplotlib).
"""

from orderopt.report.diagnostics import (FLAT_SPREAD, LEARNED_LOSS, flat_warning, learnability_line, no_order_learned,
                                         probe_line, profile_spread, profile_warnings, targets_learned,
                                         unlearned_warning)
from orderopt.report.figures import figures, publish, save_plot
from orderopt.report.history import StageSummary, stage_history, tournament_table
from orderopt.report.text import SCALE_NOTE, format_report, markdown_note, report_data

__all__ = ["StageSummary", "stage_history", "profile_spread", "flat_warning", "FLAT_SPREAD", "targets_learned",
           "unlearned_warning", "profile_warnings", "probe_line", "learnability_line", "no_order_learned",
           "LEARNED_LOSS", "tournament_table", "format_report", "report_data", "markdown_note", "SCALE_NOTE",
           "figures", "publish", "save_plot"]
