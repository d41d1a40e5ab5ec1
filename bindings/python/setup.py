"""Build steps of the promrw Python package that pyproject.toml cannot express.

``build_py`` also puts the native library into the package, at ``promrw/_native/``:

- when ``PROMRW_LIBRARY`` names an existing file, that file is copied (no build);
- otherwise ``cargo build --release --lib`` runs in the promrw repository that contains this
  directory (``../../Cargo.toml``) and ``target/release/libpromrw.so`` is copied
  (``CARGO_TARGET_DIR`` is honoured).

``include/promrw.h`` is copied next to it, so the installed package can check its ctypes
declarations against the header it was built from. The wheel is tagged ``py3-none-<platform>``:
it holds no extension module (pure ctypes, any Python 3), but a platform's shared library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIBRARY_FILE = {"darwin": "libpromrw.dylib", "win32": "promrw.dll"}.get(
    sys.platform, "libpromrw.so"
)


def _native_library() -> Path:
    """The shared library to ship: ``PROMRW_LIBRARY``, or a fresh cargo build."""
    override = os.environ.get("PROMRW_LIBRARY", "")
    if override:
        path = Path(override)
        if not path.is_file():
            sys.exit(f"promrw: PROMRW_LIBRARY={override!r} does not name an existing file")
        print(f"promrw: using PROMRW_LIBRARY={path}", flush=True)
        return path
    if not (REPO / "Cargo.toml").is_file():
        sys.exit(
            f"promrw: no Cargo.toml at {REPO}: build from the promrw repository "
            "(pip install ./bindings/python) or set PROMRW_LIBRARY to a built libpromrw.so"
        )
    cargo = shutil.which("cargo")
    if cargo is None:
        sys.exit("promrw: cargo (Rust, from rustup) is needed to build libpromrw")
    command = [cargo, "build", "--release", "--lib"]
    print(f"promrw: running {' '.join(command)} in {REPO}", flush=True)
    subprocess.run(command, cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    path = target / "release" / LIBRARY_FILE
    if not path.is_file():
        sys.exit(f"promrw: cargo finished but {path} does not exist")
    return path


class BuildPyWithNative(build_py):
    """``build_py`` that also places the native library and the C header in the package."""

    def run(self) -> None:
        """Copies the Python sources, then the library and header, into ``build_lib``."""
        super().run()
        native = Path(self.build_lib) / "promrw" / "_native"
        native.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_native_library(), native / LIBRARY_FILE)
        header = REPO / "include" / "promrw.h"
        if header.is_file():
            shutil.copy2(header, native / "promrw.h")


class BinaryDistribution(Distribution):
    """A distribution holding a native library: installed to platlib, wheel not pure."""

    def has_ext_modules(self) -> bool:
        """True: the package carries a shared library (though no extension module)."""
        return True


class PlatformWheel(bdist_wheel):
    """A wheel for this platform that any Python 3 can use (``py3-none-<platform>``)."""

    def finalize_options(self) -> None:
        """Marks the wheel as not pure: it carries a shared library."""
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        """``("py3", "none", <platform>)``: no extension module, one native library."""
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPyWithNative, "bdist_wheel": PlatformWheel},
)
