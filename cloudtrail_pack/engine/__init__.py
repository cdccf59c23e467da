"""Rule evaluation for backtests and tests: the reference engine (SQLite through pySigma's SQLite backend), the
reference's SQL parsed once (`where.py`) and compiled to Python (`matcher.py`) or Spark SQL (`spark_sql.py`),
the scan plan that compiles a pack once for every worker, the Spark engine, and what every scan engine is and
reports (`interface.py`, `results.py`)."""
