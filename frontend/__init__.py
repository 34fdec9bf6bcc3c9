"""The pages' templates and static files, and the third-party browser code they load.

A package only so that it ships as package data: an installed `pml` finds
everything beside this file, a source checkout finds it in frontend/.

The third-party libraries come from npm, pinned in package-lock.json. A
source checkout serves them from node_modules (`npm ci` here); the build
copies the files listed in `VENDORED` into `vendor/` of the wheel and
sdist (see setup.py), so an installed package needs neither npm nor a
network. Nothing else is imported here: setup.py reads `VENDORED` before
the dependencies are installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
PACKAGED = ROOT / "vendor"  # only in a built package
NODE_MODULES = ROOT / "node_modules"  # only in a source checkout after `npm ci`


@dataclass(frozen=True)
class Vendored:
    """One npm package's files, served under /static/vendor/<name>/."""

    name: str
    package: str  # the npm package, a folder of node_modules
    folder: str  # where in the npm package the served files are
    files: tuple[str, ...]  # what the pages load; nothing else is shipped
    licence: str  # the package's licence file, shipped beside the files

    def source(self) -> Path:
        """Where a source checkout keeps the files (after `npm ci`)."""
        return NODE_MODULES / self.package / self.folder

    def directory(self) -> Path:
        """Where the files are served from: the built package's copy, else node_modules."""
        packaged = PACKAGED / self.name
        return packaged if packaged.is_dir() else self.source()


VENDORED = (
    Vendored("htmx", "htmx.org", "dist", ("htmx.min.js",), "LICENSE"),
    Vendored("chart.js", "chart.js", "dist", ("chart.umd.min.js",), "LICENSE.md"),
    Vendored(
        "swagger-ui",
        "swagger-ui-dist",
        ".",
        ("swagger-ui-bundle.js", "swagger-ui.css"),
        "LICENSE",
    ),
    Vendored("redoc", "redoc", "bundles", ("redoc.standalone.js",), "LICENSE"),
)


class MissingAssets(RuntimeError):
    """The pages' third-party files are not where the server would serve them from."""


def check_assets() -> None:
    """Raise `MissingAssets` naming every missing file and how to get it.

    Called at start-up, so a checkout without `npm ci` stops with one clear
    message instead of answering every /static/vendor request with an error.
    """
    missing = [
        vendored.directory() / file
        for vendored in VENDORED
        for file in vendored.files
        if not (vendored.directory() / file).is_file()
    ]
    if not missing:
        return
    if (ROOT / "package.json").is_file():  # a source checkout: npm has not run
        raise MissingAssets(
            f"the pages' third-party browser files are missing: "
            f"{', '.join(str(path) for path in missing)}. "
            f"Run `npm ci` in {ROOT} (`make install` does), then start again."
        )
    names = ", ".join(str(path.relative_to(ROOT)) for path in missing)
    raise MissingAssets(
        f"this installation was built without the pages' third-party browser files ({names}): "
        "`pml serve` needs them. Build the package from a checkout after `npm ci` in "
        "frontend/ and install it again."
    )
