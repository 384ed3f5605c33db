// Package e2e holds end-to-end tests that run real latchkey processes:
// several nodes on one PostgreSQL acting as one service, a database outage
// and a silent database in the middle of traffic, a node killed while it
// delivers, a node drained on SIGTERM under load. The PostgreSQL tests need
// LATCHKEY_TEST_POSTGRES_URL and skip without it; the others run on SQLite.
package e2e
