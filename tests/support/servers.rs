//! Throwaway MariaDB and PostgreSQL servers for tests. To be written.
