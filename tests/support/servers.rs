//! Throwaway MariaDB and PostgreSQL servers for tests (API agreed; implementation to come).
//!
//! Each test binary starts at most one server of each kind, lazily, on a free port on
//! 127.0.0.1 with password authentication, in its own temp data dir; a watchdog stops it
//! by pid when the test process exits, even after a panic. Each test gets its own
//! database and user through [`Server::new_database`].

/// Connection facts of one test database.
#[derive(Debug, Clone)]
pub struct DbSpec {
    /// "mysql" (MariaDB) or "pgsql": the DB_CONNECTION value.
    pub driver: &'static str,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub password: String,
}

/// A running server.
pub struct Server {
    pub driver: &'static str,
    pub port: u16,
    /// Directory with the data dir, socket, logs.
    pub dir: std::path::PathBuf,
}

/// The shared MariaDB server of this test binary (started on first use).
pub fn mariadb() -> &'static Server {
    unimplemented!("servers::mariadb")
}

/// The shared PostgreSQL server of this test binary (started on first use).
pub fn postgres() -> &'static Server {
    unimplemented!("servers::postgres")
}

impl Server {
    /// Create a fresh database `<prefix>_<n>` owned by a fresh user with `password`
    /// (any characters allowed), and return how to reach it.
    pub fn new_database(&self, _prefix: &str, _password: &str) -> DbSpec {
        unimplemented!("Server::new_database")
    }

    /// Run SQL as the server's superuser in `database`; returns stdout (tab-separated rows).
    pub fn sql(&self, _database: &str, _sql: &str) -> String {
        unimplemented!("Server::sql")
    }
}
