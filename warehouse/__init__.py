"""The warehouse: models, migrations, engines, bulk writes and queries."""

import logging

# Alembic logs its plugin setup at INFO when it is first imported; a command that opens the warehouse after
# configuring logging would print those lines before its own output (migrations themselves still log).
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
