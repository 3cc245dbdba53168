/*
 * harness.c - process-level test helpers: spawn, track and always reap orderstore
 * processes; free ports; raw nng requests.
 *
 * Every child is forked with PR_SET_PDEATHSIG(SIGKILL) (it dies with the test thread
 * that forked it) and recorded in a table; th_cleanup(), registered with atexit on the
 * first spawn, SIGKILLs and reaps whatever is still recorded, by PID only. Children
 * leave the table when they are reaped (th_wait_exit, th_stop, th_run).
 * Ports: bind 127.0.0.1:0, read the port, close; never connect (an nng listener stalls
 * on a bare TCP connect). Readiness is checked with a real PING frame over nng REQ.
 * Metrics are read with a plain HTTP/1.0 GET (th_http_get, th_metric).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "harness.h"
#include "util.h"
#include "wire.h"

#define MAX_CHILDREN 256
#define MAX_PORTS 1024

static pthread_mutex_t th_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t children[MAX_CHILDREN];
static int ports[MAX_PORTS];
static size_t nports;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static void register_atexit(void)
{
	atexit(th_cleanup);
}

static void track(pid_t pid)
{
	pthread_once(&atexit_once, register_atexit);
	pthread_mutex_lock(&th_lock);
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] == 0) {
			children[i] = pid;
			break;
		}
	}
	pthread_mutex_unlock(&th_lock);
}

static bool tracked(pid_t pid)
{
	bool found = false;
	pthread_mutex_lock(&th_lock);
	for (int i = 0; i < MAX_CHILDREN && !found; i++)
		found = children[i] == pid;
	pthread_mutex_unlock(&th_lock);
	return found;
}

static void untrack(pid_t pid)
{
	pthread_mutex_lock(&th_lock);
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
	pthread_mutex_unlock(&th_lock);
}

/* cmocka's fail_msg() is not marked noreturn; this wrapper is, for the compiler's sake. */
static void th_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void th_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fail_msg("%s", msg);
	abort(); /* not reached: fail_msg longjmps out of the test or exits */
}

static int64_t now_ms(void)
{
	return (int64_t)(os_now_ns() / 1000000u);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The first port of the kernel's ephemeral range (32768 when it cannot be read). */
static int ephemeral_low(void)
{
	int lo = 32768, hi;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f != NULL) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2 || lo < 21024 || lo > 65535)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

int th_free_port(void)
{
	/* Below the ephemeral range: a node restarted on its port must not find it taken by
	 * an outgoing connection (nng dialers redialling a stopped node can even connect to
	 * themselves on an ephemeral port). */
	static unsigned seed;
	pthread_mutex_lock(&th_lock);
	if (seed == 0)
		seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 8);
	pthread_mutex_unlock(&th_lock);
	int span = ephemeral_low() - 20000;
	for (int attempt = 0; attempt < 400; attempt++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		pthread_mutex_lock(&th_lock);
		int want = attempt < 300 ? 20000 + (int)(rand_r(&seed) % (unsigned)span) : 0;
		pthread_mutex_unlock(&th_lock);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)want)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t sl = sizeof sa;
		int port = -1;
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
			port = ntohs(sa.sin_port);
		close(fd);
		if (port <= 0)
			continue;
		bool seen = false;
		pthread_mutex_lock(&th_lock);
		for (size_t i = 0; i < nports && !seen; i++)
			seen = ports[i] == port;
		if (!seen && nports < MAX_PORTS)
			ports[nports++] = port;
		pthread_mutex_unlock(&th_lock);
		if (!seen)
			return port;
	}
	th_fail("th_free_port: no free TCP port on 127.0.0.1");
}

const char *th_url(int port)
{
	static char ring[16][40];
	static unsigned next;
	unsigned i = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 16;
	snprintf(ring[i], sizeof ring[i], "tcp://127.0.0.1:%d", port);
	return ring[i];
}

const char *th_bin(const char *which)
{
	const char *var = strcmp(which, "node") == 0     ? "OSTORE_NODE_BIN"
	                  : strcmp(which, "router") == 0 ? "OSTORE_ROUTER_BIN"
	                  : strcmp(which, "cli") == 0    ? "OSTORE_CLI_BIN"
	                                                 : NULL;
	const char *path = var ? getenv(var) : NULL;
	if (path == NULL || *path == '\0')
		th_fail("th_bin(%s): %s is not set (run the test through meson)", which,
		         var ? var : "no such binary");
	return path;
}

char *th_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	size_t n = strlen(base) + strlen(tag) + 32;
	char *path = malloc(n);
	if (path == NULL)
		th_fail("th_tmpdir: out of memory");
	snprintf(path, n, "%s/ostore-%s-XXXXXX", base, tag);
	if (mkdtemp(path) == NULL) {
		int e = errno;
		free(path);
		th_fail("th_tmpdir: mkdtemp: %s", strerror(e));
	}
	return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void th_rmrf(const char *path)
{
	if (path != NULL)
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* In the child after fork: die with the parent, then reset what exec would inherit. */
static void child_setup(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the parent died before prctl took effect */
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int open_log(const char *log_path)
{
	if (log_path == NULL)
		return open("/dev/null", O_WRONLY);
	return open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
}

pid_t th_spawn(const char *const argv[], const char *log_path)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		th_fail("th_spawn: fork: %s", strerror(errno));
	if (pid == 0) {
		child_setup(parent);
		int in = open("/dev/null", O_RDONLY);
		int out = open_log(log_path);
		if (in < 0 || out < 0)
			_exit(127);
		dup2(in, STDIN_FILENO);
		dup2(out, STDOUT_FILENO);
		dup2(out, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		dprintf(STDERR_FILENO, "th_spawn: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	track(pid);
	return pid;
}

void th_kill(pid_t pid, int sig)
{
	if (pid > 0 && tracked(pid))
		kill(pid, sig);
}

int th_wait_exit(pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		int status = 0;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			untrack(pid);
			return status;
		}
		if (r < 0 && errno != EINTR) {
			untrack(pid); /* not our child (already reaped) */
			return -1;
		}
		if (now_ms() >= deadline)
			return -1;
		sleep_ms(10);
	}
}

static int reap_blocking(pid_t pid)
{
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	untrack(pid);
	return status;
}

int th_stop(pid_t pid)
{
	if (pid <= 0 || !tracked(pid))
		return -1;
	kill(pid, SIGTERM);
	int st = th_wait_exit(pid, 5000);
	if (st != -1)
		return st;
	kill(pid, SIGKILL);
	return reap_blocking(pid);
}

void th_cleanup(void)
{
	pid_t list[MAX_CHILDREN];
	int n = 0;
	pthread_mutex_lock(&th_lock);
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			list[n++] = children[i];
	pthread_mutex_unlock(&th_lock);
	for (int i = 0; i < n; i++) {
		kill(list[i], SIGKILL);
		reap_blocking(list[i]);
	}
}

/* A REQ socket dialed (in the background) to @url, with the receive limit set. */
static int req_open(const char *url, nng_socket *s)
{
	int rv = nng_req0_open(s);
	if (rv != 0)
		return rv;
	if ((rv = nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, OS_FRAME_MAX_DEFAULT)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, 20)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, 200)) != 0 ||
	    (rv = nng_dial(*s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		nng_close(*s);
		return rv;
	}
	return 0;
}

int th_ping(const char *url, int timeout_ms)
{
	nng_socket s;
	if (req_open(url, &s) != 0)
		return -1;
	uint64_t cid = os_random_u64();
	int64_t deadline = now_ms() + timeout_ms;
	int result = -1;
	while (result != 0) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			break;
		/* Resend often: the node may start listening after our first send. */
		nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, 100);
		nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, (nng_duration)left);
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)(left < 500 ? left : 500));
		os_buf b;
		os_buf_init(&b);
		os_hdr h = {.kind = OS_KIND_PING, .client_id = cid};
		if (os_hdr_put(&b, &h) != OSTORE_OK) {
			os_buf_fini(&b);
			break;
		}
		int rv = nng_send(s, b.data, b.len, 0);
		os_buf_fini(&b);
		if (rv != 0) {
			sleep_ms(20);
			continue;
		}
		void *reply = NULL;
		size_t rlen = 0;
		rv = nng_recv(s, &reply, &rlen, NNG_FLAG_ALLOC);
		if (rv != 0)
			continue;
		os_hdr rh;
		if (os_hdr_get(reply, rlen, &rh, NULL, NULL) == OSTORE_OK &&
		    rh.kind == (OS_KIND_PING | OS_REPLY_BIT))
			result = 0;
		nng_free(reply, rlen);
	}
	nng_close(s);
	return result;
}

int th_request(const char *url, const void *req, size_t len, void **reply, size_t *reply_len,
               int timeout_ms)
{
	nng_socket s;
	int rv = req_open(url, &s);
	if (rv != 0)
		return rv;
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_msg *m = NULL;
	if ((rv = nng_msg_alloc(&m, 0)) != 0 || (rv = nng_msg_append(m, req, len)) != 0) {
		nng_msg_free(m);
		nng_close(s);
		return rv;
	}
	if ((rv = nng_sendmsg(s, m, 0)) != 0) {
		nng_msg_free(m);
		nng_close(s);
		return rv;
	}
	nng_msg *r = NULL;
	if ((rv = nng_recvmsg(s, &r, 0)) != 0) {
		nng_close(s);
		return rv;
	}
	size_t n = nng_msg_len(r);
	void *copy = malloc(n ? n : 1);
	if (copy == NULL) {
		nng_msg_free(r);
		nng_close(s);
		return NNG_ENOMEM;
	}
	memcpy(copy, nng_msg_body(r), n);
	nng_msg_free(r);
	nng_close(s);
	*reply = copy;
	*reply_len = n;
	return 0;
}

static void ignore_sigpipe(void)
{
	/* A child that exits before reading its stdin must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
}

int th_run(const char *const argv[], const char *stdin_data, size_t stdin_len, char **out,
           size_t *out_len, const char *log_path, int timeout_ms)
{
	static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
	pthread_once(&sigpipe_once, ignore_sigpipe);
	int inp[2] = {-1, -1}, outp[2] = {-1, -1};
	if (pipe2(inp, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0)
		th_fail("th_run: pipe: %s", strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		th_fail("th_run: fork: %s", strerror(errno));
	if (pid == 0) {
		child_setup(parent);
		dup2(inp[0], STDIN_FILENO);
		int errfd = log_path ? open_log(log_path) : dup(STDERR_FILENO);
		if (errfd < 0)
			_exit(127);
		dup2(out ? outp[1] : errfd, STDOUT_FILENO);
		dup2(errfd, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		dprintf(STDERR_FILENO, "th_run: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	track(pid);
	close(inp[0]);
	close(outp[1]);
	int wfd = inp[1], rfd = outp[0];
	fcntl(wfd, F_SETFL, O_NONBLOCK);
	if (stdin_data == NULL || stdin_len == 0) {
		close(wfd);
		wfd = -1;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0, sent = 0;
	int64_t deadline = now_ms() + timeout_ms;
	bool timed_out = false;
	while (rfd >= 0 || wfd >= 0) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pf[2];
		int np = 0;
		if (rfd >= 0)
			pf[np++] = (struct pollfd){.fd = rfd, .events = POLLIN};
		if (wfd >= 0)
			pf[np++] = (struct pollfd){.fd = wfd, .events = POLLOUT};
		int pr = poll(pf, (nfds_t)np, (int)(left < 100 ? left : 100));
		if (pr < 0 && errno != EINTR)
			break;
		for (int i = 0; i < np && pr > 0; i++) {
			if (pf[i].revents == 0)
				continue;
			if (pf[i].fd == rfd) {
				if (cap - len < 4096) {
					cap = cap ? cap * 2 : 8192;
					char *t = realloc(buf, cap + 1);
					if (t == NULL)
						th_fail("th_run: out of memory");
					buf = t;
				}
				ssize_t n = read(rfd, buf + len, cap - len);
				if (n > 0)
					len += (size_t)n;
				else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
					close(rfd);
					rfd = -1;
				}
			} else {
				ssize_t n = write(wfd, stdin_data + sent, stdin_len - sent);
				if (n > 0)
					sent += (size_t)n;
				if ((n < 0 && errno != EINTR && errno != EAGAIN) || sent == stdin_len) {
					close(wfd);
					wfd = -1;
				}
			}
		}
	}
	if (rfd >= 0)
		close(rfd);
	if (wfd >= 0)
		close(wfd);
	int status = -1;
	if (!timed_out) {
		int64_t left = deadline - now_ms();
		status = th_wait_exit(pid, left > 0 ? (int)left : 0);
	}
	if (timed_out || status == -1) {
		kill(pid, SIGKILL);
		reap_blocking(pid);
		free(buf);
		if (out)
			*out = NULL;
		if (out_len)
			*out_len = 0;
		return -1;
	}
	if (out) {
		if (buf == NULL)
			buf = malloc(1);
		if (buf == NULL)
			th_fail("th_run: out of memory");
		buf[len] = '\0';
		*out = buf;
	} else {
		free(buf);
	}
	if (out_len)
		*out_len = len;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *th_http_get(int port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	os_buf b;
	os_buf_init(&b);
	char chunk[4096];
	ssize_t r;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		os_buf_put(&b, chunk, (size_t)r);
	close(fd);
	char *out = NULL;
	if (r == 0 && !b.oom && os_buf_put(&b, "", 1) == 0) {
		const char *body = strstr((const char *)b.data, "\r\n\r\n");
		out = strdup(body != NULL ? body + 4 : "");
	}
	os_buf_fini(&b);
	return out;
}

double th_metric(const char *text, const char *series)
{
	size_t sl = strlen(series);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (*p != '#' && strncmp(p, series, sl) == 0 && p[sl] == ' ')
			return strtod(p + sl + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}
