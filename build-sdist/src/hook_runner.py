"""pyfod's PEP 517 hook runner: calls one hook of a build backend in this process.

usage: python hook_runner.py REQUEST.json RESULT.json
REQUEST: {"hook": "get_requires_for_build_wheel" | "build_wheel",
          "backend": "module:object", "backend_path": [dirs] | null,
          "config_settings": {...} | null, "wheel_directory": dir}
RESULT:  {"ok": value} | {"backend_unavailable": message} | {"backend_outside_path": module file}
The backend's own output goes to stdout and stderr, which pyfod keeps as the build log.

With PYFOD_JOBSERVER (a named pipe of tokens, GNU make's protocol), each compiler
setuptools runs beside another one of this build waits for a token, so that
parallel build_ext shares --jobs with the other builds. Only when, never what.
"""

import importlib
import json
import os
import sys
import traceback


def load_backend(spec, backend_path):
    if backend_path:
        # PEP 517: in-tree backends are looked up in these directories first.
        roots = [os.path.abspath(p) for p in backend_path]
        sys.path[:0] = roots
    module_name, _, attributes = spec.partition(":")
    try:
        backend = importlib.import_module(module_name)
    except ImportError as error:
        return None, {"backend_unavailable": f"{type(error).__name__}: {error}"}
    if backend_path:
        origin = os.path.abspath(getattr(backend, "__file__", "") or "")
        if not any(origin.startswith(root + os.sep) for root in roots):
            return None, {"backend_outside_path": origin}
    for attribute in filter(None, attributes.split(".")):
        backend = getattr(backend, attribute)
    return backend, None


class Jobserver:
    """This build's share of pyfod's jobserver: a job runs on the token pyfod
    took to start the build when it is free, else on one from the pipe."""

    def __init__(self, path):
        import threading

        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.lock = threading.Lock()
        self.own_token_free = True

    def take(self):
        import select

        while True:
            # The build's own token comes back when its job ends; a job waiting
            # on the pipe alone would wait forever while the pipe is empty.
            with self.lock:
                if self.own_token_free:
                    self.own_token_free = False
                    return None
            try:
                token = os.read(self.fd, 1)
                if token:
                    return token
            except (BlockingIOError, InterruptedError):
                pass
            select.select([self.fd], [], [], 0.05)

    def give(self, token):
        if token is None:
            with self.lock:
                self.own_token_free = True
        else:
            os.write(self.fd, token)


def gate_compilers(jobserver):
    """Every process setuptools' compiler classes spawn (compile, link) holds a
    token while it runs. Patched on the class they all inherit spawn from, under
    each name setuptools loads it by (its own, and `distutils` when it stands in
    for the standard library's)."""
    import importlib

    patched = set()
    for name in ("distutils.ccompiler", "setuptools._distutils.ccompiler"):
        if name.split(".")[0] not in sys.modules:
            continue
        try:
            compiler = importlib.import_module(name).CCompiler
        except (ImportError, AttributeError):
            continue
        if compiler in patched:
            continue
        patched.add(compiler)
        compiler.spawn = gated(compiler.spawn, jobserver)


def gated(spawn, jobserver):
    def run(self, *args, **kwargs):
        token = jobserver.take()
        try:
            return spawn(self, *args, **kwargs)
        finally:
            jobserver.give(token)

    return run


def main(request_path, result_path):
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    backend, failure = load_backend(request["backend"], request.get("backend_path"))
    jobserver = os.environ.get("PYFOD_JOBSERVER")
    if failure is None and jobserver and "setuptools" in sys.modules:
        gate_compilers(Jobserver(jobserver))
    if failure is None:
        settings = request.get("config_settings")
        hook = request["hook"]
        if hook == "get_requires_for_build_wheel":
            call = getattr(backend, hook, None)
            value = list(call(settings)) if call else []
        elif hook == "build_wheel":
            value = backend.build_wheel(request["wheel_directory"], settings)
        else:
            raise SystemExit(f"pyfod hook runner: unknown hook {hook!r}")
        failure = {"ok": value}
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(failure, f)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        sys.exit(1)
