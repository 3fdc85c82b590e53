"""The taskcore benchmark harness: ``python -m bench.run``, run by ``make bench(-quick)``."""
