"""Solara's front-end files, shipped in ``cdn/`` so that the app renders with no network.

Solara's page loads its Vue app, its styles, fonts and require.js from a CDN unless the
files are in its "proxy cache" folder (``SOLARA_ASSETS_PROXY_CACHE_DIR``), which it then
serves itself.  The app ships, inside the package, only the files a page of this app
loads (measured with every non-local request blocked in a real browser), about 4 MB:

* ``@widgetti/solara-vuetify-app@10.1.1``: ``dist/main8.css``, ``dist/fonts.css``,
  ``dist/solara-vuetify-app8.min.js`` (with its bundled licence notices) and the
  ``.woff2`` fonts its styles name (Roboto, Material Icons, Material Design Icons);
* ``requirejs@2.3.6``: ``require.js``.

Font Awesome is switched off (``SOLARA_ASSETS_FONTAWESOME_ENABLED=False``: the app uses no
Font Awesome icon), and the app uses no Solara component that loads vega, katex or
mermaid (its figures are matplotlib images, its text plain HTML).

Licences: solara-vuetify-app MIT (its bundled code MIT and ISC, listed in
``solara-vuetify-app8.min.js.LICENSE.txt``); require.js MIT; fonts: Roboto Apache-2.0,
Material Icons Apache-2.0, Material Design Icons SIL OFL 1.1 (font) and MIT (CSS).
``cdn/NOTICE.md`` says the same next to the files.

The folder is rebuilt, byte for byte, from the npm registry's tarballs (checked against
the integrity hashes below) with ``python -m sim.app.assets [--dest DIR]``: needed only
when Solara moves to a new front-end version.  No npm is needed.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

#: Folder served as Solara's CDN cache (``SOLARA_ASSETS_PROXY_CACHE_DIR``).
CDN_DIR = Path(os.environ.get("QISIM_APP_CDN_DIR") or Path(__file__).parent / "cdn")

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    """An npm package: where Solara asks for it, what it is, and which files we ship."""

    folder: str  # as Solara requests it under /_solara/cdn/
    name: str
    version: str
    integrity: str  # the registry's dist.integrity of the tarball
    licence: str
    files: tuple[str, ...]  # glob patterns, relative to the package root

    @property
    def tarball(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"


PACKAGES = (
    Package(
        "@widgetti/solara-vuetify-app@10.1.1",
        "@widgetti/solara-vuetify-app",
        "10.1.1",
        "sha512-Cdu6G7KIBeohT2jyeQUEDr61dhEozY23St+iDwfA3+ZyPZyoIza/nS4W2g8+dbs0Xhb+WQnXlaRI92TLgeY/Jw==",
        "MIT (bundled code: MIT and ISC; fonts: Roboto Apache-2.0, Material Icons Apache-2.0, "
        "Material Design Icons SIL OFL 1.1 and MIT)",
        (
            "package.json",
            "README.md",
            "dist/main8.css",
            "dist/fonts.css",
            "dist/solara-vuetify-app8.min.js",
            "dist/solara-vuetify-app8.min.js.LICENSE.txt",
            "dist/*.woff2",
        ),
    ),
    Package(
        "requirejs@2.3.6",
        "requirejs",
        "2.3.6",
        "sha512-ipEzlWQe6RK3jkzikgCupiTbTvm4S0/CAU5GlgptkN5SO6F3u0UD0K18wy6ErDqiCyP4J4YYe1HuAShvsxePLg==",
        "MIT",
        ("package.json", "README.md", "require.js"),
    ),
)

NOTICE = """# Front-end files of the workshop app

Solara's front-end files, served by `qisim app` so that the page works with no network
(see `sim/app/assets.py`). Built by `python -m sim.app.assets` from these npm packages,
unchanged, only the files a page loads:

{rows}

Font licences: Roboto, Apache License 2.0; Material Icons, Apache License 2.0; Material
Design Icons (font), SIL Open Font License 1.1 (https://openfontlicense.org), its CSS MIT.
The licence notices of the code bundled in `solara-vuetify-app8.min.js` are in
`@widgetti/solara-vuetify-app@10.1.1/dist/solara-vuetify-app8.min.js.LICENSE.txt`.
"""


def fetch(package: Package) -> bytes:
    """The package's tarball from the npm registry, checked against its integrity hash."""
    with urllib.request.urlopen(package.tarball, timeout=60) as response:
        data = response.read()
    algo, digest = package.integrity.split("-", 1)
    if base64.b64encode(hashlib.new(algo, data).digest()).decode() != digest:
        raise RuntimeError(f"{package.name}@{package.version}: tarball does not match its integrity hash")
    return data


def extract(package: Package, tarball: bytes, dest: Path) -> list[Path]:
    """Write the package's shipped files from its tarball into ``dest/<folder>/``."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tf:
        for member in tf.getmembers():
            if not member.isfile():
                continue
            rel = member.name.split("/", 1)[1]  # npm tarballs put everything under package/
            if not any(fnmatch.fnmatchcase(rel, pattern) for pattern in package.files):
                continue
            path = dest / package.folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tf.extractfile(member).read())
            out.append(path)
    return out


def build(dest: Path = CDN_DIR) -> list[Path]:
    """(Re)build the folder of front-end files from the npm registry."""
    dest = Path(dest)
    paths = []
    for package in PACKAGES:
        paths += extract(package, fetch(package), dest)
    rows = "\n".join(f"- `{p.name}@{p.version}` ({p.licence})" for p in PACKAGES)
    (dest / "NOTICE.md").write_text(NOTICE.format(rows=rows))
    return paths


def missing(dest: Path = CDN_DIR) -> list[str]:
    """Files a page needs that ``dest`` lacks: the fixed files of each package, and every
    ``.woff2`` font its style sheets name."""
    out = []
    for package in PACKAGES:
        root = Path(dest) / package.folder
        for pattern in package.files:
            if "*" not in pattern and not (root / pattern).is_file():
                out.append(f"{package.folder}/{pattern}")
    css_dir = Path(dest) / PACKAGES[0].folder / "dist"
    for css in ("main8.css", "fonts.css"):
        path = css_dir / css
        if path.is_file():
            for font in sorted(set(_woff2_names(path.read_text(errors="replace")))):
                if not (css_dir / font).is_file():
                    out.append(f"{PACKAGES[0].folder}/dist/{font}")
    return out


def _woff2_names(css: str) -> list[str]:
    import re

    return [m.split("?")[0] for m in re.findall(r"url\(([^)\"']+\.woff2[^)\"']*)\)", css)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.app.assets",
        description="Rebuild the workshop app's front-end files from the npm registry.",
    )
    parser.add_argument("--dest", type=Path, default=CDN_DIR, help=f"folder to fill (default: {CDN_DIR})")
    parser.add_argument("--check", action="store_true", help="only list files a page needs that are missing")
    args = parser.parse_args(argv)
    if not args.check:
        paths = build(args.dest)
        size = sum(p.stat().st_size for p in paths)
        print(f"{len(paths)} files, {size / 1e6:.1f} MB in {args.dest}")
    gaps = missing(args.dest)
    for gap in gaps:
        print(f"missing: {gap}", file=sys.stderr)
    print(json.dumps({"missing": len(gaps)}))
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
