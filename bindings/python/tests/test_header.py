"""The ctypes declarations match ``promrw.h``: every function, struct, callback type and
constant of the header, with the same types. A function added to the header but not to the
wrapper fails here."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import promrw
from promrw import _constants, _errors, _lib

from conftest import REPO


def header_path() -> Path:
    """The repository's header when the tests run from a checkout, else the installed copy."""
    repo_header = REPO / "include" / "promrw.h"
    if repo_header.is_file():
        return repo_header
    installed = Path(_lib.__file__).resolve().parent / "_native" / "promrw.h"
    if installed.is_file():
        return installed
    pytest.fail("promrw.h not found in the repository nor in the installed package")


def strip_comments(text: str) -> str:
    """The header without /* */ and // comments."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


#: Values of the <stdint.h> limits a #define may name (as cbindgen writes ``usize::MAX``).
LIMITS = {
    "SIZE_MAX": (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1,
    "UINTPTR_MAX": (1 << (8 * ctypes.sizeof(ctypes.c_void_p))) - 1,
    "UINT64_MAX": (1 << 64) - 1,
    "UINT32_MAX": (1 << 32) - 1,
}


def define_value(text: str) -> int:
    """The value of a #define: a decimal or hex number, or a <stdint.h> limit."""
    return LIMITS[text] if text in LIMITS else int(text, 0)


class Header:
    """What the tests need from the header: functions, typedefs, structs and #defines."""

    def __init__(self, text: str) -> None:
        """Parses the (cbindgen-generated, hence regular) header text."""
        self.defines: Dict[str, int] = {
            m.group(1): define_value(m.group(2))
            for m in re.finditer(
                r"^#define\s+(PROMRW_\w+)\s+(0x[0-9a-fA-F]+|\d+|SIZE_MAX|UINTPTR_MAX|UINT64_MAX|"
                r"UINT32_MAX)\s*$",
                text,
                re.M,
            )
        }
        code = strip_comments(text)
        # The test-only functions, declared under PROMRW_TEST_HOOKS only, are kept apart.
        hooks = re.findall(r"^#if defined\(PROMRW_TEST_HOOKS\)$(.*?)^#endif$", code, re.S | re.M)
        self.test_hooks: Dict[str, Tuple[str, List[str]]] = {}
        for block in hooks:
            for m in re.finditer(r"([\w\s\*]+?)\b(promrw_\w+)\s*\(([^()]*)\)\s*;", block):
                self.test_hooks[m.group(2)] = (norm(m.group(1)), params(m.group(3)))
        code = re.sub(r"^#if defined\(PROMRW_TEST_HOOKS\)$.*?^#endif$", " ", code, flags=re.S | re.M)
        code = re.sub(r"^\s*#.*$", " ", code, flags=re.M)  # preprocessor lines
        code = re.sub(r'extern\s+"C"\s*\{', " ", code)
        self.structs: Dict[str, List[Tuple[str, str]]] = {}
        for m in re.finditer(r"typedef\s+struct\s*\{(.*?)\}\s*(\w+)\s*;", code, re.S):
            fields = []
            for decl in m.group(1).split(";"):
                decl = " ".join(decl.split())
                if decl:
                    ctype, name = split_decl(decl)
                    fields.append((name, ctype))
            self.structs[m.group(2)] = fields
        code = re.sub(r"typedef\s+struct\s*\{.*?\}\s*\w+\s*;", " ", code, flags=re.S)
        self.opaque = set(re.findall(r"typedef\s+struct\s+(\w+)\s+\1\s*;", code))
        code = re.sub(r"typedef\s+struct\s+\w+\s+\w+\s*;", " ", code)
        self.callbacks: Dict[str, Tuple[str, List[str]]] = {}
        for m in re.finditer(r"typedef\s+([\w\s\*]+?)\s*\(\s*\*\s*(\w+)\s*\)\s*\((.*?)\)\s*;", code, re.S):
            self.callbacks[m.group(2)] = (norm(m.group(1)), params(m.group(3)))
        code = re.sub(r"typedef\s+[\w\s\*]+?\(\s*\*\s*\w+\s*\)\s*\(.*?\)\s*;", " ", code, flags=re.S)
        self.typedefs: Dict[str, str] = {}
        for m in re.finditer(r"typedef\s+([\w\s]+?)\s+(\w+)\s*;", code):
            self.typedefs[m.group(2)] = norm(m.group(1))
        code = re.sub(r"typedef\s+[\w\s]+?\s+\w+\s*;", " ", code)
        self.functions: Dict[str, Tuple[str, List[str]]] = {}
        for m in re.finditer(r"([\w\s\*]+?)\b(promrw_\w+)\s*\(([^()]*)\)\s*;", code):
            self.functions[m.group(2)] = (norm(m.group(1)), params(m.group(3)))


def norm(ctype: str) -> str:
    """A C type with single spaces and ``*`` separated: ``const char *``."""
    ctype = ctype.replace("*", " * ")
    return " ".join(ctype.split())


def split_decl(decl: str) -> Tuple[str, str]:
    """``"const char *name"`` -> ``("const char *", "name")``."""
    m = re.match(r"^(.*?)(\w+)$", decl.strip())
    assert m, decl
    return norm(m.group(1)), m.group(2)


def params(text: str) -> List[str]:
    """The types of a parameter list (``void`` means none)."""
    text = " ".join(text.split())
    if text in ("", "void"):
        return []
    return [split_decl(p)[0] for p in text.split(",")]


BASE = {
    "void": None,
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "int64_t": ctypes.c_int64,
    "size_t": ctypes.c_size_t,
    "double": ctypes.c_double,
    "char": ctypes.c_char,
}


def expected_ctypes(header: Header, ctype: str) -> List[Any]:
    """The ctypes types that correctly declare C type ``ctype`` (usually exactly one)."""
    words = [w for w in ctype.split() if w != "const"]
    stars = words.count("*")
    base = " ".join(w for w in words if w != "*")
    if base in header.typedefs:
        base = header.typedefs[base]
    if base in header.callbacks:
        assert stars == 0, ctype
        return [getattr(_lib, base)]
    if base in header.structs or base in header.opaque:
        t: Any = getattr(_lib, base)
    elif base == "void" and stars:
        assert stars == 1, ctype
        return [ctypes.c_void_p]
    else:
        t = BASE[base]
    if base == "char" and stars == 1:
        # char * is c_char_p for NUL-terminated strings, POINTER(c_char) for (ptr, len) ones:
        # the same pointer in the ABI.
        return [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char)]
    for _ in range(stars):
        t = ctypes.POINTER(t)
    return [t]


@pytest.fixture(scope="module")
def header() -> Header:
    """The parsed header."""
    return Header(header_path().read_text())


def test_header_parses(header: Header) -> None:
    """The parser found what the header has (guards the parser itself)."""
    assert len(header.functions) >= 20
    assert {"promrw_sample", "promrw_label", "promrw_stats", "promrw_report"} <= set(header.structs)
    assert header.defines["PROMRW_SAMPLES_LOST"] == 303
    assert "PROMRW_ALL_ENDPOINTS" in header.defines
    assert {"promrw_config", "promrw_sender", "promrw_error"} == {
        name for name in header.opaque if name.startswith("promrw_")
    }
    assert {"promrw_log_fn", "promrw_free_user_data_fn"} == set(header.callbacks)
    assert header.typedefs["promrw_status"] == "uint32_t"
    assert header.functions["promrw_sender_append_columns"] == (
        "promrw_status",
        [
            "const promrw_sender *",
            "const promrw_series_ref *",
            "size_t",
            "const int64_t *",
            "const double *",
            "size_t",
            "size_t *",
        ],
    )


def test_types_outside_the_prefix_are_unused(header: Header) -> None:
    """A type the header declares without the ``promrw_`` prefix (cbindgen can leak an
    internal one, e.g. ``SuspectTimestamp``) is used by no function, so the wrapper needs no
    declaration of it."""
    foreign = {name for name in header.opaque | set(header.structs) if not name.startswith("promrw_")}
    for name, (ret, args) in header.functions.items():
        used = {w for t in [ret, *args] for w in t.split()}
        assert not (used & foreign), f"{name} uses {used & foreign}"


def test_every_header_function_is_declared(header: Header) -> None:
    """No function of the header is missing from the wrapper, and it declares no other."""
    missing = sorted(set(header.functions) - set(_lib.SIGNATURES))
    extra = sorted(set(_lib.SIGNATURES) - set(header.functions))
    assert not missing, f"functions of promrw.h missing from promrw/_lib.py: {missing}"
    assert not extra, f"functions in promrw/_lib.py that promrw.h lacks: {extra}"


def test_test_hooks_match_header(header: Header) -> None:
    """The test-only functions (under PROMRW_TEST_HOOKS) are the wrapper's
    TEST_HOOK_SIGNATURES, with the header's types, and are not among SIGNATURES."""
    assert sorted(header.test_hooks) == sorted(_lib.TEST_HOOK_SIGNATURES)
    assert "promrw_test_force_panic" in header.test_hooks
    for name, (ret, args) in header.test_hooks.items():
        restype, argtypes = _lib.TEST_HOOK_SIGNATURES[name]
        assert restype in expected_ctypes(header, ret), name
        assert len(argtypes) == len(args), name
        assert name not in _lib.SIGNATURES, name


def test_signatures_match_header(header: Header) -> None:
    """Return and argument types of every function are the header's."""
    problems = []
    for name, (ret, args) in sorted(header.functions.items()):
        restype, argtypes = _lib.SIGNATURES[name]
        if restype not in expected_ctypes(header, ret):
            problems.append(f"{name}: returns {ret}, declared {restype}")
        if len(argtypes) != len(args):
            problems.append(f"{name}: {len(args)} parameters, declared {len(argtypes)}")
            continue
        for i, (c_arg, py_arg) in enumerate(zip(args, argtypes)):
            if py_arg not in expected_ctypes(header, c_arg):
                problems.append(f"{name}: parameter {i} is {c_arg}, declared {py_arg}")
    assert not problems, "\n".join(problems)


def test_loaded_functions_carry_the_declarations(header: Header) -> None:
    """The CDLL's function objects have the declared argtypes/restype set."""
    for name in header.functions:
        function = getattr(_lib.lib, name)
        restype, argtypes = _lib.SIGNATURES[name]
        assert function.restype is restype, name
        assert list(function.argtypes) == list(argtypes), name


def test_callback_types_match_header(header: Header) -> None:
    """``promrw_log_fn`` and ``promrw_free_user_data_fn`` have the header's signature."""
    for name, (ret, args) in header.callbacks.items():
        cfunc = getattr(_lib, name)
        assert cfunc._restype_ in expected_ctypes(header, ret), name
        assert len(cfunc._argtypes_) == len(args), name
        for c_arg, py_arg in zip(args, cfunc._argtypes_):
            assert py_arg in expected_ctypes(header, c_arg), (name, c_arg, py_arg)
        assert cfunc._flags_ & ctypes._FUNCFLAG_CDECL  # type: ignore[attr-defined]


def test_structs_match_header(header: Header) -> None:
    """Field names, order and types of every struct are the header's."""
    for name, fields in header.structs.items():
        struct = getattr(_lib, name)
        declared = [(f, t) for f, t in struct._fields_]
        assert [f for f, _ in declared] == [f for f, _ in fields], name
        for (field, ctype), (_, py_type) in zip(fields, declared):
            assert py_type in expected_ctypes(header, ctype), (name, field, ctype, py_type)


def test_struct_sizes() -> None:
    """Sizes the C compiler gives these structs on LP64."""
    assert ctypes.sizeof(_lib.promrw_sample) == 24
    assert ctypes.sizeof(_lib.promrw_label) == 32
    assert ctypes.sizeof(_lib.promrw_stats) == 8 + 55 * 8
    assert ctypes.sizeof(_lib.promrw_report) == 8 + 4 * 8 + 2 * 4 + 8 + 8
    assert ctypes.sizeof(_lib.promrw_bucket_span) == 8
    assert ctypes.sizeof(_lib.promrw_exemplar) == 40
    assert ctypes.sizeof(_lib.promrw_histogram) == 200


def test_constants_match_header(header: Header) -> None:
    """Every ``#define PROMRW_*`` of the header has the same value in ``_constants``."""
    assert header.defines, "no #define found"
    for name, value in header.defines.items():
        assert getattr(_constants, name, None) == value, name
    ours = {n for n in dir(_constants) if n.startswith("PROMRW_")}
    assert ours == set(header.defines)


def test_every_status_has_an_error_class(header: Header) -> None:
    """Every status code but OK maps to its own PromrwError subclass, named by the library."""
    codes = {v for n, v in header.defines.items() if n.startswith("PROMRW_") and
             not n.startswith(("PROMRW_VERSION_", "PROMRW_LOG_", "PROMRW_HISTOGRAM_",
                                   "PROMRW_RESET_HINT_", "PROMRW_METRIC_TYPE_")) and
             n != "PROMRW_ALL_ENDPOINTS"}
    codes.discard(0)
    classes = set()
    for code in sorted(codes):
        cls = _errors.error_class(code)
        assert cls is not promrw.PromrwError and issubclass(cls, promrw.PromrwError), code
        assert cls.status == code
        classes.add(cls)
        assert _lib.status_name(code) != "unknown status", code
        assert getattr(promrw, cls.__name__) is cls
    assert len(classes) == len(codes)
