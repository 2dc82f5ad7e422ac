"""A PEP 517 backend for one C extension: compiles src/_tiny.c with the C compiler
and the interpreter's headers, honouring CC and CFLAGS, and writes the wheel."""

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

NAME, VERSION = "tinyext", "1.0"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"


def _tag():
    python = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{python}-{python}-{platform}"


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    here = os.path.dirname(os.path.abspath(__file__))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    with tempfile.TemporaryDirectory() as tmp:
        library = os.path.join(tmp, "_tiny" + suffix)
        command = [os.environ.get("CC", "cc"), "-shared", "-fPIC"]
        command += os.environ.get("CFLAGS", "").split()
        command += ["-I", sysconfig.get_path("include"), "src/_tiny.c", "-o", library]
        print(" ".join(command), flush=True)
        subprocess.check_call(command, cwd=here)
        with open(library, "rb") as f:
            compiled = f.read()
    with open(os.path.join(here, "tinyext", "__init__.py"), "rb") as f:
        init = f.read()
    files = {
        "tinyext/__init__.py": init,
        f"tinyext/_tiny{suffix}": compiled,
        f"{DIST_INFO}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{DIST_INFO}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tinyext_backend\nRoot-Is-Purelib: false\n"
            f"Tag: {_tag()}\n"
        ).encode(),
    }
    filename = f"{NAME}-{VERSION}-{_tag()}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as wheel:
        record = ""
        for name, data in files.items():
            wheel.writestr(name, data)
            record += _record_line(name, data)
        wheel.writestr(f"{DIST_INFO}/RECORD", record + f"{DIST_INFO}/RECORD,,\n")
    return filename
