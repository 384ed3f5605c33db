// Package e2e holds end-to-end tests that run real latchkey processes:
// several nodes on one PostgreSQL acting as one service, and a database
// outage in the middle of traffic. They need LATCHKEY_TEST_POSTGRES_URL and
// skip without it.
package e2e
