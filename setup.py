"""The build step pyproject.toml cannot say: ship the pages' npm files in the package.

The metadata is in pyproject.toml. This adds the third-party browser files
(htmx, Chart.js, Swagger UI, ReDoc) that `npm ci` put in frontend/node_modules:
the wheel gets them in `frontend/vendor/<name>/`, where `frontend.Vendored`
looks first, and the sdist gets them at their node_modules paths, so a wheel
built from the sdist finds them as a checkout does. Only the files the pages
load are shipped (`frontend.VENDORED`), with each package's licence.

A build without them (no `npm ci`) still builds, with a warning: `pml lint`
in a CI job or pre-commit hook, installed from git, needs no npm. Such a
package's `pml serve` refuses to start and says what is missing
(`frontend.check_assets`), rather than serve pages that half work.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.warnings import SetuptoolsWarning

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "frontend" / "node_modules"
sys.path.insert(0, str(HERE))  # the build runs setup.py with only the backend on the path
from frontend import VENDORED  # noqa: E402


def _shipped() -> list[tuple[Path, Path]]:
    """(file in node_modules, its place in the wheel's frontend/vendor/) for every shipped file.

    Empty, with a warning, when any is missing: all of them or none.
    """
    shipped = []
    for vendored in VENDORED:
        package = NODE_MODULES / vendored.package
        for name in vendored.files:
            shipped.append((package / vendored.folder / name, Path(vendored.name, name)))
        shipped.append((package / vendored.licence, Path("LICENSES", vendored.package)))
    missing = [str(path.relative_to(HERE)) for path, _ in shipped if not path.is_file()]
    if missing:
        SetuptoolsWarning.emit(
            "Building without the pages' npm files",
            f"Missing {', '.join(missing)}. The package lints, indexes and searches, but its "
            "`pml serve` will refuse to start: run `npm ci` in frontend/ before building "
            "(`make install` does).",
        )
        return []
    return shipped


class BuildWithVendored(build_py):
    """build_py, then the npm files into frontend/vendor/ of the build."""

    def run(self) -> None:
        super().run()
        # An editable install serves node_modules from the checkout itself.
        if getattr(self, "editable_mode", False):
            return
        for source, place in _shipped():
            target = Path(self.build_lib) / "frontend" / "vendor" / place
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


class SdistWithVendored(sdist):
    """sdist, with the npm files at their node_modules paths."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        for source, _ in _shipped():
            target = Path(base_dir) / source.relative_to(HERE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


setup(cmdclass={"build_py": BuildWithVendored, "sdist": SdistWithVendored})
