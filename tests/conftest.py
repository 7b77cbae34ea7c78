"""Run the longest tests first, so that two pytest-xdist workers finish together rather than one waiting on the last; and
nothing downloads: PEDSENSE_OFFLINE turns every download of pedsense into one line (the download tests serve files from
this machine to functions that take the server's address, and unset it for themselves)."""
import os
os.environ["PEDSENSE_OFFLINE"] = "1"
LONGEST_FIRST = ["test_wheel_in_clean_venv", "05_hidden_state", "07_training", "09_evaluate", "13_runs", "16_cli", "06_video", "15_performance", "10_benchmark"]


def pytest_collection_modifyitems(items):
    rank = lambda item: next((i for i, k in enumerate(LONGEST_FIRST) if k in item.nodeid), len(LONGEST_FIRST))
    items.sort(key=rank)
