"""Run the longest tests first, so that two pytest-xdist workers finish together rather than one waiting on the last."""
LONGEST_FIRST = ["test_wheel_in_clean_venv", "04_hidden_state", "07_jaad_benchmark", "06_evaluate", "05a_runs", "09_cli", "05_learner", "08_performance"]


def pytest_collection_modifyitems(items):
    rank = lambda item: next((i for i, k in enumerate(LONGEST_FIRST) if k in item.nodeid), len(LONGEST_FIRST))
    items.sort(key=rank)
