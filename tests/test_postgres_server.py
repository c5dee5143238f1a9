"""The tests' own PostgreSQL server: the dashboard's role reaches a new database over TCP with its
password (what the store's PostgreSQL tests stand on), and a wrong password is refused."""

import psycopg
import pytest


def test_the_dashboards_role_owns_a_new_empty_database_and_a_wrong_password_is_refused(postgres_server, pg_url):
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT current_user, count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone() == ("pump", 0)
        assert con.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 150000
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_url.replace(":pump-test-secret-3141@", ":wrong@")).close()
