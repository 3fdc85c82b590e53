"""The soak run: ``python -m bench.soak`` (see ``bench/soak/run.py``)."""
