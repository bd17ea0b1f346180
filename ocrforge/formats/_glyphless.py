"""A TrueType font with one square glyph: the face of the PDF's invisible text layer.

The text layer is never drawn (render mode 3), so it needs no real glyphs, only character
codes that map back to Unicode (ToUnicode) and an advance width. One glyph serves every
character, Chinese included, so a PDF carries well under 1 KB of font instead of a subset of a 20 MB
CJK face, and writing a PDF needs no font installed. (Tesseract's PDF renderer does the same.)

``FONT`` is the output of ``build_font()``, stored so that the base install does not need
fontTools; ``tests/test_formats_pdf.py`` checks the two agree. Regenerate with
``python -m ocrforge.formats._glyphless`` (needs fontTools, in the dev extra).
"""

from __future__ import annotations

import base64

UNITS_PER_EM = 1000
ADVANCE = 1000  # every character is one em wide; the writer scales each word to its box


def build_font() -> bytes:
    import io

    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    fb = FontBuilder(UNITS_PER_EM, isTTF=True)
    fb.setupGlyphOrder([".notdef", "blank"])
    fb.setupCharacterMap({})  # characters are reached by CID through CIDToGIDMap, not cmap
    # The glyph is never painted (render mode 3), but it must have an outline: PDFium's text
    # extraction measures a character by its glyph's box and drops a one-character word whose
    # glyph is empty. A full-em square makes each character's box its share of the word box.
    pen = TTGlyphPen(None)
    pen.moveTo((0, 0))
    pen.lineTo((0, UNITS_PER_EM))
    pen.lineTo((ADVANCE, UNITS_PER_EM))
    pen.lineTo((ADVANCE, 0))
    pen.closePath()
    square = pen.glyph()
    fb.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "blank": square})
    fb.setupHorizontalMetrics({".notdef": (ADVANCE, 0), "blank": (ADVANCE, 0)})
    fb.setupHorizontalHeader(ascent=UNITS_PER_EM, descent=0)
    fb.setupNameTable({"familyName": "OcrforgeGlyphless", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=UNITS_PER_EM, sTypoDescender=0, usWinAscent=UNITS_PER_EM, usWinDescent=0)
    fb.setupPost()
    # Fixed timestamps (2024-01-01) so that the same code makes the same bytes.
    stamp = 3786825600
    fb.updateHead(created=stamp, modified=stamp)
    out = io.BytesIO()
    fb.save(out)
    return out.getvalue()


FONT_BASE64 = (
    "AAEAAAAKAIAAAwAgT1MvMkTeRxQAAAEoAAAAYGNtYXAADABGAAABkAAAACxnbHlmKOM0/AAAAcQAAAAYaGVhZCZrA8gAAACs"
    "AAAANmhoZWEH0QPqAAAA5AAAACRobXR4A+gAAAAAAYgAAAAGbG9jYQAMAAAAAAG8AAAABm1heHAABAAGAAABCAAAACBuYW1l"
    "hRxkowAAAdwAAAB+cG9zdG1nc80AAAJcAAAALAABAAAAAQAAgI3jy18PPPUAAwPoAAAAAOG2X4AAAAAA4bZfgAAAAAAD6APo"
    "AAAAAwACAAAAAAAAAAEAAAPoAAAAAAPoAAAAAAPoAAEAAAAAAAAAAAAAAAAAAAABAAEAAAACAAQAAQAAAAAAAgAAAAAAAAAA"
    "AAAAAAAAAAAAAwPoAZAABQAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPz8/PwAA"
    "AAAAAAPoAAAAAAPoAAAAAAAAAAAAAAAAAAAAAAAgAAAD6AAAAAAAAAAAAAIAAAADAAAAFAADAAEAAAAUAAQAGAAAAAIAAgAA"
    "AAD//wAA//8AAQAAAAAAAAAMAAAAAQAAAAAD6APoAAMAADERIRED6APo/BgAAAAEADYAAQAAAAAAAQARAAAAAQAAAAAAAgAH"
    "ABEAAwABBAkAAQAiABgAAwABBAkAAgAOADpPY3Jmb3JnZUdseXBobGVzc1JlZ3VsYXIATwBjAHIAZgBvAHIAZwBlAEcAbAB5"
    "AHAAaABsAGUAcwBzAFIAZQBnAHUAbABhAHIAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAECBWJsYW5r"
)

FONT = base64.b64decode(FONT_BASE64)

if __name__ == "__main__":
    import textwrap

    print("\n".join(textwrap.wrap(base64.b64encode(build_font()).decode("ascii"), 96)))
