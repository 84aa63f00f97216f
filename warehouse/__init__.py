"""The warehouse: models, migrations, engines, bulk writes and queries."""
