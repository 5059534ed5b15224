"""The benchmark harness: everything that does not know which code is being timed.

* :mod:`harness.timing` -- the paired-rounds protocol and the clocks it uses;
* :mod:`harness.stats` -- per-round ratios and their medians;
* :mod:`harness.checks` -- the agreement check every competitor must pass;
* :mod:`harness.targets` -- the issue's targets, judged MET or MISSED;
* :mod:`harness.report` -- the text report and the README's Markdown table;
* :mod:`harness.interpreters` -- running a workload under other CPythons.

The code being timed lives in ``benchmarks/workloads``.
"""
