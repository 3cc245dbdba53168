/*
 * cluster.c - th_cluster: a few real orderstore processes for end-to-end tests (see
 * harness.h). Node i listens on a free loopback port, keeps its data in DIR/node-i and is
 * the primary of shard i in an even map written to DIR/map.json; one router reads the
 * same map. Processes are started through th_spawn, so th_cleanup kills them by PID.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "map.h"

void th_cluster_start_node(th_cluster *k, int i)
{
	char id[16], data[600], log[600];
	snprintf(id, sizeof(id), "%d", i);
	snprintf(data, sizeof(data), "%s/node-%d", k->dir, i);
	snprintf(log, sizeof(log), "%s/node-%d.log", k->dir, i);
	mkdir(data, 0755);
	const char *argv[] = {th_bin("node"), "--id", id, "--listen", k->node_url[i], "--data", data,
	                      "--map", k->map_path, NULL};
	k->node_pid[i] = th_spawn(argv, log);
	if (th_ping(k->node_url[i], 15000) != 0)
		fail_msg("node %d did not answer PING (see %s)", i, log);
}

void th_cluster_start(th_cluster *k, int nshards, const char *tag, unsigned router_timeout_ms)
{
	assert_true(nshards >= 1 && nshards <= TH_MAX_NODES);
	k->dir = th_tmpdir(tag);
	k->nshards = nshards;
	const char *addrs[TH_MAX_NODES];
	for (int i = 0; i < nshards; i++) {
		snprintf(k->node_url[i], sizeof(k->node_url[i]), "%s", th_url(th_free_port()));
		addrs[i] = k->node_url[i];
	}
	snprintf(k->router_url, sizeof(k->router_url), "%s", th_url(th_free_port()));
	snprintf(k->map_path, sizeof(k->map_path), "%s/map.json", k->dir);
	os_map *m = os_map_build_even((uint16_t)nshards, addrs, 0);
	assert_non_null(m);
	char err[256];
	if (os_map_save_file(m, k->map_path, err, sizeof(err)) != OSTORE_OK)
		fail_msg("map save: %s", err);
	os_map_unref(m);
	for (int i = 0; i < nshards; i++)
		th_cluster_start_node(k, i);
	char tmo[16], log[600];
	snprintf(tmo, sizeof(tmo), "%u", router_timeout_ms);
	snprintf(log, sizeof(log), "%s/router.log", k->dir);
	const char *argv[] = {th_bin("router"), "--listen", k->router_url, "--map", k->map_path,
	                      "--timeout-ms", tmo, NULL};
	k->router_pid = th_spawn(argv, log);
	if (th_ping(k->router_url, 15000) != 0)
		fail_msg("router did not answer PING (see %s)", log);
}

void th_cluster_stop(th_cluster *k)
{
	for (int i = 0; i < k->nshards; i++)
		th_kill(k->node_pid[i], 9);
	th_kill(k->router_pid, 9);
	th_cleanup();
	if (k->dir != NULL) {
		th_rmrf(k->dir);
		free(k->dir);
		k->dir = NULL;
	}
}
