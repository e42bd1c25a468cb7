"""Write a benchmark's output between ``<!-- BEGIN:name -->`` and ``<!-- END:name -->`` markers of a doc."""

import re
from pathlib import Path


def replace_section(doc: Path, name: str, text: str) -> None:
    """Replace the marked section ``name`` of ``doc`` with ``text`` and say so."""
    pattern = rf"<!-- BEGIN:{name} -->.*<!-- END:{name} -->"
    content = doc.read_text()
    if not re.search(pattern, content, flags=re.S):
        raise SystemExit(f"{doc} has no <!-- BEGIN:{name} --> ... <!-- END:{name} --> section to replace.")
    doc.write_text(re.sub(pattern, lambda _: f"<!-- BEGIN:{name} -->\n{text}\n<!-- END:{name} -->", content, flags=re.S))
    print(f"wrote {doc}")
