"""Versions agree everywhere, and importing refuses a library of another version."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import promrw
from promrw import _constants, _lib, _version

from conftest import REPO, c_compiler, run_python

FAKE_LIBRARY_C = r"""
const char *promrw_version(void) { return "%s"; }
"""


def compile_fake_library(tmp_path: Path, version: str) -> Path:
    """A shared library exporting only ``promrw_version()`` returning ``version``."""
    cc = c_compiler()
    if cc is None:
        pytest.skip("no C compiler")
    source = tmp_path / "fake.c"
    source.write_text(FAKE_LIBRARY_C % version)
    library = tmp_path / f"libfake-{version}.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def test_versions_agree() -> None:
    """Package, pinned library version, loaded library and header macros all say the same."""
    assert promrw.__version__ == _version.__version__ == promrw.LIBRARY_VERSION
    assert promrw.library_version() == promrw.LIBRARY_VERSION
    major, minor, patch = (int(x) for x in promrw.LIBRARY_VERSION.split("."))
    assert (_constants.PROMRW_VERSION_MAJOR, _constants.PROMRW_VERSION_MINOR,
            _constants.PROMRW_VERSION_PATCH) == (major, minor, patch)
    assert _version.LIBRARY_VERSION_NUMBER == major * 10000 + minor * 100 + patch
    assert _constants.PROMRW_VERSION_NUMBER == _version.LIBRARY_VERSION_NUMBER


def test_version_matches_cargo() -> None:
    """The pinned version is the Rust crate's (when running from the repository)."""
    cargo = REPO / "Cargo.toml"
    if not cargo.is_file():
        pytest.skip("not in the repository")
    match = re.search(r'^version\s*=\s*"([^"]+)"', cargo.read_text(), re.M)
    assert match and match.group(1) == promrw.LIBRARY_VERSION


def test_installed_metadata_version() -> None:
    """The distribution's metadata carries the same version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        assert version("promrw") == promrw.__version__
    except PackageNotFoundError:
        pytest.skip("promrw is not installed (running from the source tree)")


def test_check_version_accepts_the_pinned_version() -> None:
    """The pinned version passes."""
    _lib.check_version(promrw.LIBRARY_VERSION)


def test_check_version_refuses_another_version() -> None:
    """A different version raises PromrwVersionError (an ImportError) naming both."""
    with pytest.raises(promrw.PromrwVersionError) as info:
        _lib.check_version("0.2.0", "0.1.0", "/x/libpromrw.so")
    err = info.value
    assert isinstance(err, ImportError)
    assert (err.found, err.expected, err.path) == ("0.2.0", "0.1.0", "/x/libpromrw.so")
    assert "0.2.0" in str(err) and "0.1.0" in str(err) and "/x/libpromrw.so" in str(err)
    with pytest.raises(promrw.PromrwVersionError):
        _lib.check_version("0.1.0-rc1")


def test_import_refuses_library_of_another_version(tmp_path: Path) -> None:
    """Importing with PROMRW_LIBRARY at a library reporting 9.9.9 fails with both versions."""
    fake = compile_fake_library(tmp_path, "9.9.9")
    result = run_python(
        "import promrw",
        env={"PROMRW_LIBRARY": str(fake)},
    )
    assert result.returncode != 0
    assert "PromrwVersionError" in result.stderr
    assert "9.9.9" in result.stderr and promrw.LIBRARY_VERSION in result.stderr
    assert str(fake) in result.stderr


def test_import_refuses_incomplete_library(tmp_path: Path) -> None:
    """A library with the right version but missing functions fails the import clearly."""
    fake = compile_fake_library(tmp_path, promrw.LIBRARY_VERSION)
    result = run_python("import promrw", env={"PROMRW_LIBRARY": str(fake)})
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "does not export" in result.stderr


def test_import_refuses_non_promrw_library(tmp_path: Path) -> None:
    """A shared library without promrw_version is refused."""
    cc = c_compiler()
    if cc is None:
        pytest.skip("no C compiler")
    source = tmp_path / "other.c"
    source.write_text("int other(void) { return 1; }\n")
    library = tmp_path / "libother.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    result = run_python("import promrw", env={"PROMRW_LIBRARY": str(library)})
    assert result.returncode != 0
    assert "does not export promrw_version" in result.stderr


def test_missing_override_path_is_an_import_error(tmp_path: Path) -> None:
    """PROMRW_LIBRARY naming no file fails the import with the path in the message."""
    missing = tmp_path / "nope.so"
    result = run_python("import promrw", env={"PROMRW_LIBRARY": str(missing)})
    assert result.returncode != 0
    assert "ImportError" in result.stderr and str(missing) in result.stderr


def test_override_loads_that_library(tmp_path: Path) -> None:
    """PROMRW_LIBRARY pointing at a copy of the library loads the copy."""
    copy = tmp_path / "libpromrw-copy.so"
    shutil.copy2(promrw.LIBRARY_PATH, copy)
    result = run_python(
        "import promrw; print(promrw.LIBRARY_PATH); print(promrw.library_version())",
        env={"PROMRW_LIBRARY": str(copy)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(copy), promrw.LIBRARY_VERSION]


def test_bundled_library_is_used_when_installed() -> None:
    """An installed package loads the library shipped inside it (unless overridden)."""
    bundled = Path(_lib.__file__).resolve().parent / "_native" / _lib.LIBRARY_FILE
    if not bundled.is_file():
        pytest.skip("running from the source tree: no bundled library")
    result = run_python("import promrw; print(promrw.LIBRARY_PATH)", env={"PROMRW_LIBRARY": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bundled)
