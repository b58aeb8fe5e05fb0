"""Engine settings per database.

SQLite (the embedded default) gets foreign keys, WAL and ``BEGIN IMMEDIATE``: a transaction
takes the write lock when it starts, so two requests never both read and then fail to
upgrade to writing; the busy timeout makes the second wait instead of failing.
"""

from flask import Flask
from sqlalchemy import event


def init_app(app: Flask) -> None:
    from portal.extensions import db

    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let SQLAlchemy, not pysqlite, issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
