"""A waiting list of any size, written straight into the database in a few statements.

Each household is a qualified ``applications`` row, its applicant's ``household_members``
row and a WAITING ``queue_entries`` row (the foreign keys hold). Values are spread by a
fixed multiplicative hash of the row number, so every run builds the same list on SQLite
and PostgreSQL: about 10 % P1, 20 % P2, 5 % S and 65 % G; four in five households in public
rental housing, the rest in affordable rental housing. Qualification dates run over six
years in the order of the rows, as on a real list: households join the day they qualify, so
entry numbers grow with the qualification date (``random_dates=True`` scatters them
instead, the worst case for writing a ranking).
"""

from __future__ import annotations

import sqlalchemy as sa

from bench.common import row_series


def _spread(k: int, modulus: int) -> str:
    """A deterministic pseudo-random number in [0, modulus) from the row number ``i``."""
    multipliers = (2654435761, 2246822519, 3266489917, 668265263, 374761393, 1181783497)
    return f"((i * {multipliers[k]} + {k * 7919}) % 1000003 % {modulus})"


def _date(dialect: str, start: str, offset: str) -> str:
    if dialect == "postgresql":
        return f"(DATE '{start}' + ({offset})::int)"
    return f"date('{start}', '+' || ({offset}) || ' days')"


def populate(
    conn: sa.Connection, n: int, *, applicant_id: int, district_id: int, random_dates: bool = False
) -> None:
    """Insert ``n`` waiting households (ids 1 … n) into an empty, migrated database."""
    dialect = conn.dialect.name
    from portal.accounts.services import id_index
    from portal.core.crypto import protector

    number = "450302199001011234"
    blob = protector().encrypt(number, "household_members.id_number")
    index = id_index(number)
    now = "now()" if dialect == "postgresql" else "'2026-01-01 00:00:00.000000'"
    programme = "CASE WHEN i % 5 = 0 THEN 'affordable_rental' ELSE 'public_rental' END"
    bucket = _spread(0, 100)
    # P1 10 %, P2 20 %, S 5 %, G 65 %
    cases = [(10, 1, "p1"), (30, 2, "p2"), (35, 3, "s")]
    group_order = (
        "CASE " + " ".join(f"WHEN {bucket} < {b} THEN {o}" for b, o, _ in cases) + " ELSE 4 END"
    )
    group = (
        "CASE " + " ".join(f"WHEN {bucket} < {b} THEN '{g}'" for b, _, g in cases) + " ELSE 'g' END"
    )
    birth = _date(dialect, "1950-01-01", _spread(3, 18000))
    tiebreak = (
        "md5(i::text)"
        if dialect == "postgresql"
        else f"printf('%08x%08x', {_spread(4, 1000003)}, {_spread(5, 1000003)})"
    )
    days = _spread(1, 2190) if random_dates else f"(i * 2190 / {int(n)})"
    qualified = _date(dialect, "2020-01-01", days)
    prefix, series = row_series(dialect, n)
    statements = [
        f"{prefix}INSERT INTO applications (id, reference, applicant_id, programme, status, "
        f"district_id, created_at, updated_at, qualified_at) "
        f"SELECT i, 'B' || substr('0000000000' || i, -10, 10), {applicant_id}, {programme}, "
        f"'qualified', {district_id}, {now}, {now}, {now} {series}",
        f"{prefix}INSERT INTO household_members (id, application_id, position, name, id_number, "
        f"id_index, relation, birth_date) "
        f"SELECT i, i, 0, '测试' || i, :blob, :index, 'applicant', {birth} {series}",
        f'{prefix}INSERT INTO queue_entries (id, application_id, programme, "group", '
        f"group_order, qualified_on, points, points_json, birth_date, tiebreak, household_size, "
        f"status, refusals, joined_at, verified_on, next_verification_on) "
        f"SELECT i, i, {programme}, {group}, {group_order}, "
        f"{qualified}, {_spread(2, 121)}, '[]', {birth}, "
        f"{tiebreak}, 1 + {_spread(5, 5)}, 'waiting', 0, {now}, "
        f"{_date(dialect, '2026-01-01', _spread(1, 300))}, "
        f"{_date(dialect, '2027-01-01', _spread(1, 300))} {series}",
    ]
    if dialect == "postgresql":
        # the substr() padding above is SQLite's idiom; PostgreSQL pads with lpad
        statements[0] = statements[0].replace(
            "substr('0000000000' || i, -10, 10)", "lpad(i::text, 10, '0')"
        )
    for sql in statements:
        conn.execute(sa.text(sql), {"blob": blob, "index": index})
    if dialect == "postgresql":
        for table in ("applications", "household_members", "queue_entries"):
            conn.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {int(n)})")
            )
    else:
        conn.execute(sa.text("ANALYZE"))


def settle(engine: sa.Engine) -> None:
    """What a database that has lived with these rows would have: statistics, and on
    PostgreSQL hint bits and the visibility map set by a vacuum (outside a transaction)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE applications, household_members, queue_entries"))
