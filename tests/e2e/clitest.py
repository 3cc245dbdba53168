"""Running the `orderstore` CLI from the Python end-to-end tests, with one line per check.

    t = CliTest(CLI, ENV)           # the CLI binary and the environment it runs with
    run, check, expect = t.run, t.check, t.expect
    failures = t.failures           # the names of the checks that failed, in order

run(*args) -> (exit status, stdout, stderr) as text; check(cond, what) prints "ok   what"
or "FAIL what detail" and records failures; expect(args, rc, what, has=None) runs the CLI
and checks its exit status and (optionally) a string in its output.
cli_env() is the environment every test runs the CLI with.
"""
import os
import subprocess


def cli_env(drop=("ORDERSTORE_ROUTER",)):
    """This process's environment without @drop, plus the node and router binaries of the
    build under test (meson's OSTORE_*_BIN) under the names the CLI reads."""
    env = dict(os.environ)
    for var in drop:
        env.pop(var, None)
    for ours, theirs in (("OSTORE_NODE_BIN", "ORDERSTORE_NODE_BIN"),
                         ("OSTORE_ROUTER_BIN", "ORDERSTORE_ROUTER_BIN")):
        if os.environ.get(ours):
            env[theirs] = os.environ[ours]
    return env


class CliTest:
    def __init__(self, cli, env, timeout=60, detail_chars=600):
        self.cli, self.env, self.timeout, self.detail_chars = cli, env, timeout, detail_chars
        self.failures = []

    def run(self, *args, stdin=b"", timeout=None, env=None):
        p = subprocess.run([self.cli] + [str(a) for a in args], input=stdin,
                           capture_output=True, env=env or self.env,
                           timeout=timeout or self.timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def check(self, cond, what, detail=""):
        print(("ok   " if cond else "FAIL ") + what + ("" if cond else " " + detail), flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def expect(self, args, rc, what, has=None, env=None):
        got, out, err = self.run(*args, env=env)
        n = self.detail_chars
        self.check(got == rc and (has is None or has in out + err), what,
                   f"(rc {got}, want {rc}; stdout {out[-n:]!r}; stderr {err[-n:]!r})")
        return got, out, err
