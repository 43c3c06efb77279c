"""Plain policy text -> blocks for the public page (headings, paragraphs, bullet lists).

The body is stored exactly as published; this only decides how it is laid out. Numbered
headings ("1. Introduction") lose their typed number and are numbered in order by the page:
the source text, copied from an auto-numbered list, numbers every section "1.".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADING = re.compile(r"^\d+[.)]\s+(?P<text>\S.*)$")
BULLET = re.compile(r"^[•\-*▪●◦]\s*(?P<text>\S.*)$")
LABEL = re.compile(r"^(?P<label>[^:]{2,40}):\s+(?P<rest>\S.*)$")


@dataclass
class Block:
    kind: str  # "doc_heading", "heading", "paragraph", "list"
    text: str = ""
    items: list[tuple[str, str]] = field(default_factory=list)  # (label, text) per bullet
    number: int = 0


def policy_blocks(body: str) -> list[Block]:
    blocks: list[Block] = []
    sections = 0
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        if (heading := HEADING.match(line)) is not None:
            sections += 1
            blocks.append(Block("heading", heading["text"], number=sections))
        elif (bullet := BULLET.match(line)) is not None:
            labelled = LABEL.match(bullet["text"])
            item = (labelled["label"], labelled["rest"]) if labelled else ("", bullet["text"])
            if blocks and blocks[-1].kind == "list":
                blocks[-1].items.append(item)
            else:
                blocks.append(Block("list", items=[item]))
        elif not blocks and sections == 0 and len(line) <= 80 and not line.endswith("."):
            blocks.append(Block("doc_heading", line))
        else:
            blocks.append(Block("paragraph", line))
    return blocks
