"""A small XML tree that remembers where each element came from (file and line).

ElementTree cannot carry source lines, and every error the simulator reports about the
configuration must name the file and line.  expat gives both cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.parsers import expat


class XElement:
    __slots__ = ("attrib", "children", "compiled", "file", "line", "parent", "tag", "text")

    def __init__(self, tag: str, attrib: dict[str, str], file: str, line: int):
        self.tag = tag
        self.attrib = attrib
        self.children: list[XElement] = []
        self.text = ""
        self.file = file
        self.line = line
        self.parent: XElement | None = None
        #: what a module derived from this element once loaded (the dialplan's compiled
        #: context); the tree is never changed after loading, so it stays valid
        self.compiled: object | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrib.get(name, default)

    def find(self, tag: str, **attrs: str) -> XElement | None:
        for c in self.children:
            if c.tag == tag and all(c.attrib.get(k.replace("_", "-")) == v or c.attrib.get(k) == v
                                    for k, v in attrs.items()):
                return c
        return None

    def findall(self, tag: str) -> list[XElement]:
        return [c for c in self.children if c.tag == tag]

    def iter(self, tag: str | None = None) -> Iterator[XElement]:
        if tag is None or self.tag == tag:
            yield self
        for c in self.children:
            yield from c.iter(tag)

    def where(self) -> str:
        return "%s:%d" % (self.file, self.line)

    def __repr__(self) -> str:  # pragma: no cover
        return f"<{self.tag} {self.attrib!r} at {self.where()}>"


class XMLSyntaxError(Exception):
    def __init__(self, file: str, line: int, message: str):
        super().__init__("%s:%d: %s" % (file, line, message))
        self.file = file
        self.line = line
        self.message = message


def parse(text: str, file: str) -> XElement:
    """Parse ``text``; raise :class:`XMLSyntaxError` with the line of the first error."""
    parser = expat.ParserCreate()
    stack: list[XElement] = []
    roots: list[XElement] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        el = XElement(tag, attrs, file, parser.CurrentLineNumber)
        if stack:
            el.parent = stack[-1]
            stack[-1].children.append(el)
        else:
            roots.append(el)
        stack.append(el)

    def end(tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(text, True)
    except expat.ExpatError as err:
        raise XMLSyntaxError(file, err.lineno, expat.errors.messages.get(err.code, str(err))) from None
    if not roots:
        raise XMLSyntaxError(file, 1, "no element found")
    return roots[0]
