/*
 * orderstore_proc.c - process and network helpers of `orderstore local`: PING over nng,
 * pid files, "is this PID still ours", detached spawning, binary lookup, port checks,
 * log tails.
 *
 * Liveness is always a wire PING over an nng REQ socket, never a bare TCP connect (that
 * stalls an nng 1.5.2 listener, library-facts). Port checks only bind(2), with
 * SO_REUSEADDR like nng's listeners, so a port in TIME_WAIT counts as free.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "buf.h"
#include "orderstore_cli.h"
#include "util.h"
#include "wire.h"

/* ---- PING over nng ---------------------------------------------------------------- */

int cli_ping(const char *url, uint32_t timeout_ms)
{
	nng_socket s;
	int rv = nng_req0_open(&s);
	if (rv != 0)
		return os_from_nng(rv);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u * 1024);
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 200);
	if (os_net_dial(s, url, cli_sec(), NNG_FLAG_NONBLOCK) != OSTORE_OK) {
		nng_close(s);
		return OSTORE_ECONNECT;
	}
	os_buf b;
	os_buf_init(&b);
	os_hdr h = {.kind = OS_KIND_PING};
	os_netsec_cred(cli_sec(), &h);
	if (os_hdr_put(&b, &h) != OSTORE_OK) {
		nng_close(s);
		return OSTORE_ENOMEM;
	}
	uint64_t deadline = os_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int st = OSTORE_ETIMEDOUT;
	for (;;) {
		uint64_t now = os_now_ns();
		if (now >= deadline)
			break;
		uint64_t left_ms = (deadline - now) / 1000000u + 1;
		nng_duration wait = (nng_duration)(left_ms < 500 ? left_ms : 500);
		nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, wait);
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, wait);
		if (nng_send(s, b.data, b.len, 0) != 0) {
			nng_msleep(20);
			continue;
		}
		void *reply;
		size_t len;
		if (nng_recv(s, &reply, &len, NNG_FLAG_ALLOC) != 0)
			continue;
		os_hdr rh;
		const uint8_t *rest;
		size_t rest_len;
		int ok = os_hdr_get(reply, len, &rh, &rest, &rest_len) == OSTORE_OK &&
		         rh.kind == (OS_KIND_PING | OS_REPLY_BIT);
		nng_free(reply, len);
		if (ok) {
			st = OSTORE_OK;
			break;
		}
	}
	os_buf_fini(&b);
	nng_close(s);
	return st;
}

/* ---- small file and process helpers ---------------------------------------------- */

int cli_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	cli_fmt(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

bool cli_file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Read a pid file; 0 when absent or unreadable. */
pid_t cli_read_pidfile(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return 0;
	long v = 0;
	if (fscanf(f, "%ld", &v) != 1 || v <= 0 || v > INT_MAX)
		v = 0;
	fclose(f);
	return (pid_t)v;
}

int cli_write_pidfile(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "we");
	if (f == NULL)
		return errno;
	fprintf(f, "%ld\n", (long)pid);
	return fclose(f) == 0 ? 0 : errno;
}

/* Whether @pid is alive (not a zombie) and is one of ours: its command line names
 * orderstore and the cluster directory @dir. */
bool cli_proc_is_ours(pid_t pid, const char *dir)
{
	char path[64], buf[8192];
	if (pid <= 0)
		return false;
	cli_fmt(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	if (rp == NULL || rp[1] == '\0' || rp[2] == 'Z' || rp[2] == 'X')
		return false;
	cli_fmt(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, "orderstore") != NULL && strstr(buf, dir) != NULL;
}

/* Print the last @lines lines of @path to stderr, indented. */
void cli_print_log_tail(const char *name, const char *path, int lines)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "  (%s: no log at %s)\n", name, path);
		return;
	}
	char buf[8192];
	long size = 0;
	if (fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	long from = size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	const char *start = buf;
	int seen = 0;
	for (size_t i = n; i > 0; i--) {
		if (buf[i - 1] == '\n' && ++seen == lines) {
			start = buf + i;
			break;
		}
	}
	fprintf(stderr, "--- last lines of %s (%s) ---\n%s\n", path, name,
	        n ? start : "(empty)");
}

/* The port of a "tcp://HOST:PORT" URL and its host in @host; -1 if not that form. */
int cli_url_port(const char *url, char *host, size_t hostlen)
{
	if (strncmp(url, "tls+", 4) == 0)
		url += 4;
	if (strncmp(url, "tcp://", 6) != 0)
		return -1;
	const char *h = url + 6, *colon = strrchr(h, ':');
	if (colon == NULL)
		return -1;
	uint64_t port;
	if (os_parse_u64(colon + 1, 1, 65535, &port) != 0)
		return -1;
	cli_fmt(host, hostlen, "%.*s", (int)(colon - h), h);
	return (int)port;
}

/* Whether the port of @url can be bound now (as nng would: SO_REUSEADDR). Binds only. */
bool cli_port_free(const char *url)
{
	char host[256];
	int port = cli_url_port(url, host, sizeof(host));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (port < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return true; /* not a TCP/IPv4 URL: let the process report it */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Find binary @file: $@env, else next to this executable, else ../@subdir/ of it. */
int cli_find_bin(const char *env, const char *file, const char *subdir, char *out, size_t outlen)
{
	const char *e = getenv(env);
	if (e != NULL && e[0] != '\0') {
		if (access(e, X_OK) != 0) {
			cli_err("local up: $%s=%s is not an executable: %s", env, e, strerror(errno));
			return -1;
		}
		cli_fmt(out, outlen, "%s", e);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		cli_err("local up: cannot read /proc/self/exe: %s", strerror(errno));
		return -1;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	cli_fmt(out, outlen, "%s/%s", self, file);
	if (access(out, X_OK) == 0)
		return 0;
	cli_fmt(out, outlen, "%s/../%s/%s", self, subdir, file);
	if (access(out, X_OK) == 0)
		return 0;
	cli_err("local up: cannot find %s: not in %s, not in %s/../%s, and $%s is not set", file,
	        self, self, subdir, env);
	return -1;
}

/* Start @argv detached (own session), stdout+stderr appended to @log. Returns the PID or
 * -1 after printing why. */
pid_t cli_spawn_detached(const char *const argv[], const char *log)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		cli_err("local up: pipe: %s", strerror(errno));
		return -1;
	}
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		cli_err("local up: cannot open %s: %s", log, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		cli_err("local up: fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		close(logfd);
		return -1;
	}
	if (pid == 0) {
		int err;
		setsid();
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) {
			err = errno;
		} else {
			execv(argv[0], (char *const *)argv);
			err = errno;
		}
		ssize_t w = write(pfd[1], &err, sizeof(err));
		(void)w;
		_exit(127);
	}
	close(pfd[1]);
	close(logfd);
	int err = 0;
	ssize_t r;
	do
		r = read(pfd[0], &err, sizeof(err));
	while (r < 0 && errno == EINTR);
	close(pfd[0]);
	if (r == (ssize_t)sizeof(err)) {
		cli_err("local up: cannot run %s: %s", argv[0], strerror(err));
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

