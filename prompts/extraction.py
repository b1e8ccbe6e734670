"""Server-side text extraction of uploaded knowledge files (.txt, .md, .csv, .pdf, .docx).

Every refusal is a ``ValidationFailed`` with its own code and a message staff can act on; nothing is ever
stored as empty or as garbage decoded from binary.
"""

import io
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings

from config.errors import ValidationFailed

TEXT_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv"}
DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
ALLOWED_EXTENSIONS = tuple(sorted({*TEXT_TYPES, *DOCUMENT_TYPES}))
# Korean text files saved by older Windows tools are often CP949 rather than UTF-8.
LEGACY_ENCODINGS = ("cp949",)
MAX_CONTROL_CHAR_RATIO = 0.01


@dataclass(frozen=True)
class ExtractedText:
    text: str
    content_type: str
    size_bytes: int


def text_extract(*, file_name: str, data: bytes) -> ExtractedText:
    extension = PurePath(file_name).suffix.lower()
    if extension not in TEXT_TYPES and extension not in DOCUMENT_TYPES:
        raise ValidationFailed(
            f"“{file_name}” is not a supported file type. Upload one of: {', '.join(ALLOWED_EXTENSIONS)}.",
            code="file_type_unsupported",
        )
    if len(data) > settings.PROMPTS_MAX_UPLOAD_BYTES:
        raise ValidationFailed(
            f"“{file_name}” is larger than the upload limit of {_size(settings.PROMPTS_MAX_UPLOAD_BYTES)}.",
            code="file_too_large",
        )
    if extension == ".pdf":
        text = _pdf_text(file_name, data)
    elif extension == ".docx":
        text = _docx_text(file_name, data)
    else:
        text = _plain_text(file_name, data)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationFailed(f"“{file_name}” contains no text.", code="file_empty")
    content_type = TEXT_TYPES.get(extension) or DOCUMENT_TYPES[extension]
    return ExtractedText(text=text, content_type=content_type, size_bytes=len(data))


def _plain_text(file_name: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _decode(data, "utf-16")
    elif b"\x00" in data:
        text = None  # NUL bytes: a binary file renamed to .txt
    else:
        text = _decode(data, "utf-8-sig")
        for encoding in LEGACY_ENCODINGS:
            text = text if text is not None else _decode(data, encoding)
    if text is None or _looks_binary(text):
        raise ValidationFailed(
            f"“{file_name}” is not readable text (binary data or an unknown encoding). Save it as UTF-8 text.",
            code="file_unreadable",
        )
    return text


def _decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f")
    return controls > max(1, len(text) * MAX_CONTROL_CHAR_RATIO)


def _pdf_text(file_name: str, data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValidationFailed(
                f"“{file_name}” is password-protected. Remove the password and upload it again.",
                code="file_unreadable",
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except ValidationFailed:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ValidationFailed(f"“{file_name}” is not a readable PDF.", code="file_unreadable") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise ValidationFailed(
            f"“{file_name}” has no text layer (it looks like a scanned PDF). Run OCR on it, or paste the text "
            "with “Add text”.",
            code="pdf_no_text_layer",
        )
    return text


def _docx_text(file_name: str, data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        message = f"“{file_name}” is not a readable Word (.docx) document."
        raise ValidationFailed(message, code="file_unreadable") from exc
    blocks = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        blocks.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows)
    return "\n".join(blocks)


def _size(num_bytes: int) -> str:
    if num_bytes >= 1024 * 1024:
        return f"{num_bytes / (1024 * 1024):.1f} MB"
    if num_bytes >= 1024:
        return f"{num_bytes / 1024:.1f} KB"
    return f"{num_bytes} bytes"
