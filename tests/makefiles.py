"""Test documents of every format, made in the test itself (no downloaded fixtures).

PDFs are written by hand: a text layer in Chinese uses a Type0 font with Identity-H encoding and a
ToUnicode map (what real PDF writers emit for CJK text), so extraction is exercised for real. A scanned
PDF is an image saved as PDF by Pillow: no text layer at all. Images for OCR are drawn with Pillow's
default font (ASCII and digits: no CJK font is assumed to be installed).
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path


def pdf_bytes(pages: list[list[str]], title: str = "") -> bytes:
    """A PDF whose pages carry the given lines as a real (extractable) text layer."""
    chars = sorted({ch for page in pages for line in page for ch in line})
    cid = {ch: i + 1 for i, ch in enumerate(chars)}
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes, extra: str = "") -> bytes:
        packed = zlib.compress(data)
        return (f"<< /Length {len(packed)} /Filter /FlateDecode {extra}>>\nstream\n".encode() + packed
                + b"\nendstream")

    catalog = add(b"")  # filled in below
    pages_obj = add(b"")
    cmap = "\n".join([
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
        "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange",
    ])
    items = list(cid.items())
    for i in range(0, len(items), 100):
        part = items[i : i + 100]
        cmap += f"\n{len(part)} beginbfchar\n"
        cmap += "\n".join(f"<{n:04X}> <{ord(ch):04X}>" for ch, n in part if ord(ch) <= 0xFFFF)
        cmap += "\nendbfchar"
    cmap += "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    tounicode = add(stream(cmap.encode()))
    descendant = add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /XSTestSong "
                     b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                     b"/DW 1000 /CIDToGIDMap /Identity >>")
    font = add(f"<< /Type /Font /Subtype /Type0 /BaseFont /XSTestSong /Encoding /Identity-H "
               f"/DescendantFonts [{descendant} 0 R] /ToUnicode {tounicode} 0 R >>".encode())
    page_ids = []
    for lines in pages:
        ops = ["BT", "/F1 12 Tf", "14 TL", "50 780 Td"]
        for line in lines:
            ops.append("<" + "".join(f"{cid[ch]:04X}" for ch in line) + "> Tj T*")
        ops.append("ET")
        content = add(stream("\n".join(ops).encode()))
        page_ids.append(add(f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 595 842] "
                            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>".encode()))
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages_obj} 0 R >>".encode()
    objects[pages_obj - 1] = (f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] "
                              f"/Count {len(page_ids)} >>").encode()
    info = add(f"<< /Title <FEFF{title.encode('utf-16-be').hex().upper()}> >>".encode()) if title else None
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    trailer = f"/Size {len(objects) + 1} /Root {catalog} 0 R" + (f" /Info {info} 0 R" if info else "")
    out.write(f"trailer\n<< {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def cjk_font() -> str | None:
    """A font file with Chinese glyphs, if this machine has one (fontconfig, then common paths)."""
    import glob
    import shutil
    import subprocess

    if shutil.which("fc-list"):
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True).stdout
        files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
        if files:
            return files[0]
    for pattern in ("/usr/share/fonts/**/wqy*.tt?", "/usr/share/fonts/**/*CJK*.tt?", "/usr/share/fonts/**/*cjk*.tt?"):
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    return None


def text_image(lines: list[str], size: tuple[int, int] = (720, 0), fmt: str = "PNG", font_path: str | None = None) -> bytes:
    """An image of dark text on white (readable by OCR): Pillow's default font, or ``font_path``."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, 36) if font_path else ImageFont.load_default(size=36)
    height = size[1] or 40 + 60 * len(lines)
    img = Image.new("RGB", (size[0], height), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((24, 24 + 60 * i), line, fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def scanned_pdf(lines: list[str], font_path: str | None = None) -> bytes:
    """A PDF of one page that is only an image (a scan): no text layer."""
    from PIL import Image

    img = Image.open(io.BytesIO(text_image(lines, font_path=font_path)))
    buf = io.BytesIO()
    img.save(buf, format="PDF", resolution=100)
    return buf.getvalue()


def docx_file(path: Path, title: str, sections: list[tuple[str, list[str]]],
              table: list[list[str]] | None = None) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.add_heading(title, level=1)
    for heading, paragraphs in sections:
        d.add_heading(heading, level=2)
        for p in paragraphs:
            d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    d.save(str(path))
    return path


def xlsx_file(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(str(path))
    return path


def zip_bomb_docx(path: Path, inflated_mb: int = 600) -> Path:
    """A file named .docx whose one member inflates to ``inflated_mb`` MB of zeros (a few hundred KB on disk)."""
    import zipfile

    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(inflated_mb):
                member.write(chunk)
    return path
