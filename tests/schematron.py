"""The official EN 16931 CII validation (the compiled schematron of the European Commission's
eInvoicing project, release 1.3.16, EUPL 1.2, kept in tests/data/en16931 or given by
REBILL_EN16931_XSLT) run with Saxon-HE (`saxonche`): the rules an XSD cannot check (BR-*,
BR-CO-*, BR-AE-*, BR-G-*, ...)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Any

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
DEFAULT_XSLT = Path(__file__).parent / "data" / "en16931" / "EN16931-CII-validation.xslt"


def xslt_path() -> Path:
    return Path(os.environ.get("REBILL_EN16931_XSLT", DEFAULT_XSLT))


@lru_cache(maxsize=1)
def _compiled() -> tuple[Any, Any]:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    executable = processor.new_xslt30_processor().compile_stylesheet(
        stylesheet_file=str(xslt_path())
    )
    return processor, executable


def failed_asserts(xml: bytes) -> list[dict[str, str]]:
    """Every `svrl:failed-assert` of the EN 16931 schematron: id, flag, location, text."""
    assert xslt_path().exists(), f"EN 16931 schematron not found at {xslt_path()}"
    processor, executable = _compiled()
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    svrl = executable.transform_to_string(xdm_node=node)
    root = ET.fromstring(svrl)
    return [
        {
            "id": f.get("id", ""),
            "flag": f.get("flag", ""),
            "location": f.get("location", ""),
            "text": "".join(f.itertext()).strip(),
        }
        for f in root.iter(f"{SVRL}failed-assert")
    ]


def fatal_failures(xml: bytes) -> list[str]:
    return [f"{f['id']}: {f['text']}" for f in failed_asserts(xml) if f["flag"] == "fatal"]


def assert_en16931_valid(xml: bytes) -> None:
    fatal = fatal_failures(xml)
    assert not fatal, "EN 16931 schematron fatal assertions:\n" + "\n".join(fatal)
