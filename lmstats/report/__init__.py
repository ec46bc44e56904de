"""``lmstats report``: every model on one vocabulary and one test split, rendered for a paper.

:mod:`~lmstats.report.config` (what to run, validated whole), :mod:`~lmstats.report.run`
(the stages), :mod:`~lmstats.report.render` (Markdown, HTML, CSV, JSON),
:mod:`~lmstats.report.plots` and :mod:`~lmstats.report.provenance` (machine and versions).
"""
