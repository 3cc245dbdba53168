/*
 * harness.h - helpers for tests that run orderstore processes on loopback (tests only).
 *
 * Every child is started with PR_SET_PDEATHSIG(SIGKILL) and remembered, so a test that
 * fails or aborts never leaves processes behind; th_cleanup() (also run at exit) kills
 * every child still alive by PID and reaps it. Ports come from th_free_port(), which binds
 * a random 127.0.0.1 port below the kernel's ephemeral range (so a process restarted on
 * its port never finds it taken by an outgoing connection) and never connects (a bare
 * connect stalls an nng listener, library-facts).
 * Binaries are found through environment variables set by meson (OSTORE_NODE_BIN,
 * OSTORE_ROUTER_BIN, OSTORE_CLI_BIN).
 */
#ifndef TH_HARNESS_H
#define TH_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** th_free_port - a TCP port free on 127.0.0.1 right now (ports handed out in this
 *  process are never repeated). Aborts the test (cmocka fail) if none. */
int th_free_port(void);
/** th_url - "tcp://127.0.0.1:PORT" in a static ring of buffers (valid for 16 calls). */
const char *th_url(int port);
/** th_bin - path of a built binary: "node", "router" or "cli". Fails the test if unset. */
const char *th_bin(const char *which);
/** th_tmpdir - a new empty directory under $TMPDIR or /tmp (malloc'ed path). */
char *th_tmpdir(const char *tag);
/** th_rmrf - remove a directory tree (best effort). */
void th_rmrf(const char *path);
/** th_spawn - start argv[0] with argv (NULL-terminated); stdout+stderr appended to
 *  @log_path (NULL: /dev/null). Returns the PID (> 0) or fails the test. */
pid_t th_spawn(const char *const argv[], const char *log_path);
/** th_kill - send @sig to @pid if it is still one of ours and alive. */
void th_kill(pid_t pid, int sig);
/** th_wait_exit - reap @pid within @timeout_ms; returns its wait status, or -1 on
 *  timeout (the process is then still running). */
int th_wait_exit(pid_t pid, int timeout_ms);
/** th_stop - SIGTERM, wait up to 5 s, then SIGKILL; returns the wait status. */
int th_stop(pid_t pid);
/** th_cleanup - SIGKILL and reap every child still alive. Safe to call repeatedly. */
void th_cleanup(void);
/** th_ping - send PING frames to @url over nng REQ until one is answered or
 *  @timeout_ms passes. Returns 0 when answered, -1 otherwise. */
int th_ping(const char *url, int timeout_ms);
/**
 * th_request - one raw request/reply over nng REQ: send @len bytes to @url, receive the
 * reply into a malloc'ed *@reply (free()) of *@reply_len bytes within @timeout_ms.
 * Returns 0, or an nng error code. For tests that send hand-made (also broken) frames.
 */
int th_request(const char *url, const void *req, size_t len, void **reply, size_t *reply_len,
               int timeout_ms);
/** th_run - run a command to completion (stdout into *@out if not NULL, malloc'ed,
 *  NUL-terminated; stderr to @log_path or inherited), within @timeout_ms. Returns the
 *  exit code, or -1 on timeout / signal. @stdin_data (may be NULL) is written to stdin. */
int th_run(const char *const argv[], const char *stdin_data, size_t stdin_len, char **out,
           size_t *out_len, const char *log_path, int timeout_ms);
/** th_http_get - GET http://127.0.0.1:@port@path (HTTP/1.0, 5 s receive timeout); the
 *  malloc'ed body (free()), or NULL when the connection or read failed. */
char *th_http_get(int port, const char *path);
/** th_metric - the value of the sample whose series (name{labels}) is exactly @series in
 *  Prometheus text @text, or -1 when absent. */
double th_metric(const char *text, const char *series);

/** A small cluster of real processes: nshards nodes (an even map, node i primary of
 *  shard i) and one router, under a fresh th_tmpdir. */
#define TH_MAX_NODES 8
typedef struct th_cluster {
	char *dir;                         /* malloc'ed */
	int nshards;
	char map_path[512];
	char node_url[TH_MAX_NODES][64];
	pid_t node_pid[TH_MAX_NODES];
	char router_url[64];
	pid_t router_pid;
} th_cluster;

/** th_cluster_start - start @nshards (1..8) nodes and one router started with
 *  --timeout-ms @router_timeout_ms; returns when all answer PING. Fails the test on
 *  error. */
void th_cluster_start(th_cluster *k, int nshards, const char *tag, unsigned router_timeout_ms);
/** th_cluster_start_node - (re)start node @i on its data directory; waits for PING. */
void th_cluster_start_node(th_cluster *k, int i);
/** th_cluster_stop - kill every process of @k, remove its directory, free it. */
void th_cluster_stop(th_cluster *k);

#endif /* TH_HARNESS_H */
