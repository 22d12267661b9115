"""SQLAlchemy 2 storage: rows, the store, migrations. Money is always an integer column."""
