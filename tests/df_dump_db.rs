//! df-dump-db against real SQLite, MariaDB and PostgreSQL.
mod support;
use support::servers;

const NASTY: &str = "p'w\"d #;:\\ $x y";

#[test]
fn harness_servers_work() {
    for s in [servers::mariadb(), servers::postgres()] {
        let db = s.new_database("harness", NASTY);
        db.sql("CREATE TABLE t (id INT); INSERT INTO t VALUES (1),(2);");
        let n = s.sql(&db.database, "SELECT COUNT(*) FROM t;");
        assert_eq!(n.trim(), "2", "{}", s.driver);
    }
}
