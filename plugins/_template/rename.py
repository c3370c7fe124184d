"""Turn ToolHive's plugin template into your plugin: ``python rename.py NAME [KIND]``.

Run it in a copy of ``plugins/_template``. Every ``example`` becomes NAME: the distribution
``toolhive-KIND-NAME``, the package ``toolhive_KIND_NAME``, the entry point ``KIND-NAME``, the
middleware type ``NAME`` and the classes ``<Name>Parameters`` and ``<Name>Middleware``, in file
contents and in file and folder names. KIND (default ``middleware``) only names the distribution:
the code stays a middleware until you change its hook. It then removes the template note from the
README and deletes itself. Standard library only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
KINDS = ("runtime", "transport", "middleware", "secrets", "registry", "client", "cli")
NOTE = re.compile(r"<!-- template:start -->.*?<!-- template:end -->\n\n", re.S)


def replacements(name: str, kind: str = "middleware") -> list[tuple[str, str]]:
    snake = name.replace("-", "_")
    camel = "".join(part.title() for part in name.split("-"))
    return [
        ("toolhive-middleware-example", f"toolhive-{kind}-{name}"),
        ("toolhive_middleware_example", f"toolhive_{kind}_{snake}"),
        ("middleware-example", f"{kind}-{name}"),
        ("Example", camel),
        ("example", name),
    ]


def rename(root: Path, name: str, kind: str = "middleware") -> None:
    pairs = replacements(name, kind)

    def apply(text: str) -> str:
        for old, new in pairs:
            text = text.replace(old, new)
        return text

    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".toml", ".md", ".typed"}:
            text = path.read_text(encoding="utf-8")
            path.write_text(apply(NOTE.sub("", text)), encoding="utf-8")
    # Deepest first, so a folder is renamed after what it holds.
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if "example" in path.name:
            path.rename(path.with_name(apply(path.name)))


def main(argv: list[str]) -> int:
    name, kind = [*argv[1:], "middleware"][:2] if len(argv) in (2, 3) else ("", "")
    if not NAME.match(name) or kind not in KINDS:
        print(
            "usage: python rename.py NAME [KIND]\n"
            "  NAME: lower case, digits and dashes (hello, rate-limit)\n"
            f"  KIND: {', '.join(KINDS)} (default: middleware)"
        )
        return 2
    readme = HERE / "README.md"
    if "toolhive-middleware-example" not in readme.read_text(encoding="utf-8"):
        print("already renamed")
        return 1
    (HERE / "rename.py").unlink()
    rename(HERE, name, kind)
    print(f"renamed to toolhive-{kind}-{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
