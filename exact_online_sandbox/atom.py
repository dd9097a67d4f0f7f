"""Exact's answers without ``Accept: application/json``: a minimal Atom/XML rendering."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr


def _xml_props(row: dict[str, Any]) -> str:
    parts = []
    for name, value in row.items():
        if name == "__metadata" or isinstance(value, dict):
            continue
        if value is None:
            parts.append(f'<d:{name} m:null="true"/>')
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            parts.append(f"<d:{name}>{escape(text)}</d:{name}>")
    return "".join(parts)


def atom(payload: dict[str, Any]) -> bytes:
    """A minimal Atom rendering of an OData JSON payload (Exact's answer without JSON Accept)."""
    ns = ('xmlns="http://www.w3.org/2005/Atom" '
          'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
          'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"')
    d: Any = payload.get("d", {})

    def entry(row: dict[str, Any], root: bool) -> str:
        meta = row.get("__metadata", {})
        return (f"<entry{' ' + ns if root else ''}><id>{escape(str(meta.get('uri', '')))}</id>"
                f"<category term={quoteattr(str(meta.get('type', '')))}/>"
                f'<content type="application/xml"><m:properties>{_xml_props(row)}'
                "</m:properties></content></entry>")

    head = '<?xml version="1.0" encoding="utf-8"?>'
    if isinstance(d, list):
        d = {"results": d}
    if isinstance(d, dict) and "results" in d:
        entries = "".join(entry(r, False) for r in d["results"])
        nxt = f'<link rel="next" href={quoteattr(d["__next"])}/>' if d.get("__next") else ""
        return f"{head}<feed {ns}>{entries}{nxt}</feed>".encode()
    return f"{head}{entry(d, True)}".encode()


def xml_error(message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><error xmlns="http://schemas.microsoft.com/'
            f'ado/2007/08/dataservices/metadata"><code></code><message xml:lang="en-US">'
            f"{escape(message)}</message></error>").encode()
