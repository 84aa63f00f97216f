"""One module per dashboard page; each is a Streamlit script run by the router in ``app.py``."""
