"""``python -m agentotel.dashboard.serve run app.py …``: Streamlit's own command line, after importing what the
pages need that is slow to import (pandas, Altair, SQLAlchemy, SciPy through the analytics: ~2.5 s on this
project's 2-core machines), so that the first visitor after a start does not wait for it. Modules that
declare Streamlit caches are left to the first run (their caches belong to the server's runtime)."""

from __future__ import annotations

import importlib
import sys

WARM = ("pandas", "numpy", "altair", "sqlalchemy", "agentotel.alerting.manager", "agentotel.alerting.queries",
        "agentotel.warehouse.analytics", "agentotel.warehouse.traces", "agentotel.registry")


def main() -> None:
    for name in WARM:
        importlib.import_module(name)
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
