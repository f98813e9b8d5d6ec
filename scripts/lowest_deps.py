"""The lowest versions that pyproject.toml allows, for scripts/test-lowest.sh.

    python scripts/lowest_deps.py python-floor
        prints the floor of requires-python (">=3.10" -> "3.10");
    python scripts/lowest_deps.py constraints
        prints a pip constraints file: "name==X" for every "name>=X" of the build
        requirements, the runtime dependencies and every extra but "test";
    python scripts/lowest_deps.py check --extras ntlm,demo [--any-python]
        run with the interpreter of the environment under test: every pinned package of the
        build requirements, the runtime dependencies and the named extras must be installed at
        exactly its floor (and Python at the requires-python floor); prints a table, exits 1
        if any is not.

The floors are what users install: test-only packages (those of the "test" extra that no
other group names) are not pinned. A package that the "test" extra names with a floor other
than its user-facing one is an error: one of the two floors would be untested. A runtime
dependency without a floor is an error too: its lowest allowed version would be anything.
"""
from __future__ import annotations

import argparse
import pathlib
import re
import sys
from importlib import metadata

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip's own copy of tomli (this runs in a venv with pip)
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

ROOT = pathlib.Path(__file__).resolve().parents[1]
USER_EXTRAS_EXCLUDED = {"test", "docs"}  # docs: built by scripts/docs.sh with current tools
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;.*)?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple[int, ...] | str:
    """1.4 == 1.4.0 (PEP 440 zero padding); anything but a plain release compares as text."""
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return version
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def floor_of(specifier: str) -> str | None:
    for clause in specifier.split(","):
        match = re.fullmatch(r"\s*(>=|~=)\s*([^\s,]+)\s*", clause)
        if match:
            return match.group(2)
    return None


def load(path: pathlib.Path = ROOT / "pyproject.toml") -> dict:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def groups(pyproject: dict) -> dict[str, list[str]]:
    """Requirement strings by group: "build", "runtime", and "extra:<name>" for each extra."""
    found = {
        "build": list(pyproject.get("build-system", {}).get("requires", [])),
        "runtime": list(pyproject.get("project", {}).get("dependencies", [])),
    }
    for extra, requirements in pyproject.get("project", {}).get("optional-dependencies", {}).items():
        found[f"extra:{extra}"] = list(requirements)
    return found


def floors(pyproject: dict) -> tuple[dict[str, tuple[str, str, str]], list[str]]:
    """{canonical name: (declared name, floor, group)} for the user-facing groups, and the
    errors found (inconsistent floors, runtime dependencies without one)."""
    pins: dict[str, tuple[str, str, str]] = {}
    errors: list[str] = []
    test_floors: dict[str, tuple[str, str | None]] = {}
    for group, requirements in groups(pyproject).items():
        for requirement in requirements:
            match = _REQUIREMENT.match(requirement)
            if not match:
                errors.append(f"{group}: cannot read the requirement {requirement!r}")
                continue
            name, specifier = match.group(1), match.group(2)
            floor = floor_of(specifier)
            key = canonical(name)
            if group.split(":", 1)[-1] in USER_EXTRAS_EXCLUDED:
                test_floors[key] = (requirement, floor)
                continue
            if floor is None:
                if group == "runtime":
                    errors.append(f"runtime dependency {requirement!r} has no floor (name>=X)")
                continue
            if key in pins and release(pins[key][1]) != release(floor):
                errors.append(f"{name}: floor {pins[key][1]} in {pins[key][2]} but {floor} in {group}")
                continue
            pins.setdefault(key, (name, floor, group))
    for key, (requirement, floor) in test_floors.items():
        if key in pins and (floor is None or release(floor) != release(pins[key][1])):
            errors.append(f"the test extra asks {requirement!r}, but {pins[key][2]} has floor "
                          f"{pins[key][1]}: use the same floor, or one of the two is never tested")
    return pins, errors


def python_floor(pyproject: dict) -> str:
    floor = floor_of(pyproject.get("project", {}).get("requires-python", ""))
    if floor is None:
        sys.exit("pyproject.toml: requires-python has no floor (>=X.Y)")
    return floor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("command", choices=["python-floor", "constraints", "check"])
    parser.add_argument("--extras", default="", help="comma-separated extras that were installed")
    parser.add_argument("--any-python", action="store_true", help="do not require the requires-python floor")
    args = parser.parse_args()
    pyproject = load()
    if args.command == "python-floor":
        print(python_floor(pyproject))
        return 0
    pins, errors = floors(pyproject)
    if errors:
        for error in errors:
            print(f"pyproject.toml: {error}", file=sys.stderr)
        return 1
    if args.command == "constraints":
        print("# Generated by scripts/lowest_deps.py from pyproject.toml: each floor, pinned.")
        for name, floor, group in sorted(pins.values(), key=lambda p: canonical(p[0])):
            print(f"{name}=={floor}  # {group}")
        return 0

    extras = {e.strip() for e in args.extras.split(",") if e.strip()}
    wanted = {"build", "runtime"} | {f"extra:{e}" for e in extras}
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    failed = False
    print(f"{'package':<16} {'group':<14} {'floor':<10} installed")
    py_floor = python_floor(pyproject)
    py_now = ".".join(map(str, sys.version_info[:3]))
    py_ok = release(".".join(map(str, sys.version_info[:2]))) == release(py_floor)
    print(f"{'python':<16} {'requires':<14} {py_floor:<10} {py_now}"
          + ("" if py_ok else ("   (another Python, by request)" if args.any_python else "   <-- NOT THE FLOOR")))
    failed |= not py_ok and not args.any_python
    for key, (name, floor, group) in sorted(pins.items()):
        if group not in wanted:
            print(f"{name:<16} {group:<14} {floor:<10} (not installed: this extra is not part of the run)")
            continue
        version = installed.get(key)
        ok = version is not None and release(version) == release(floor)
        print(f"{name:<16} {group:<14} {floor:<10} {version or 'MISSING'}" + ("" if ok else "   <-- NOT THE FLOOR"))
        failed |= not ok
    if failed:
        print("lowest: the environment is not at the floors pyproject.toml declares "
              "(a floor that cannot be installed, or constraints that did not apply)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
