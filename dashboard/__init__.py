"""The Streamlit dashboard: ``agentotel dashboard`` runs ``app.py``; pages live in ``views/``.

Pages read the warehouse only through ``agentotel.warehouse`` query functions, via the cached wrappers
of ``data.py``; ``auth.py`` handles login and roles.
"""
