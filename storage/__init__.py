"""The SQLite database: connection, numbered migrations, one query module per aggregate.

The only package that writes SQL; everything above it calls these functions."""
