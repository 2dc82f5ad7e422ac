"""pyfod's PEP 517 hook runner: calls one hook of a build backend in this process.

usage: python hook_runner.py REQUEST.json RESULT.json
REQUEST: {"hook": "get_requires_for_build_wheel" | "build_wheel",
          "backend": "module:object", "backend_path": [dirs] | null,
          "config_settings": {...} | null, "wheel_directory": dir}
RESULT:  {"ok": value} | {"backend_unavailable": message} | {"backend_outside_path": module file}
The backend's own output goes to stdout and stderr, which pyfod keeps as the build log.
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


def main(request_path, result_path):
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    backend, failure = load_backend(request["backend"], request.get("backend_path"))
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
