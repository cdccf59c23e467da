"""Rule evaluation for backtests and tests: the reference engine (SQLite through pySigma's SQLite
backend), the matcher that runs the reference's own SQL as Python, and the scan plan that compiles a
pack once for every worker."""
