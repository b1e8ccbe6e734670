import pytest

from config.errors import ValidationFailed
from prompts.extraction import text_extract
from tests.prompts.documents import docx_with, pdf_scanned, pdf_with_text


def refusal(file_name: str, data: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        text_extract(file_name=file_name, data=data)
    return caught.value


def test_pdf_text_layer_is_extracted_page_by_page():
    data = pdf_with_text(["Press release (draft)", "Second line"], ["Page two"])

    extracted = text_extract(file_name="release.PDF", data=data)

    assert extracted.text == "Press release (draft)\nSecond line\n\nPage two"
    assert extracted.content_type == "application/pdf"
    assert extracted.size_bytes == len(data)


def test_scanned_pdf_without_text_layer_is_refused_saying_so():
    error = refusal("scan.pdf", pdf_scanned())

    assert error.code == "pdf_no_text_layer"
    assert "no text layer" in error.message
    assert "scan.pdf" in error.message


def test_broken_pdf_is_refused():
    assert refusal("broken.pdf", b"%PDF-1.4\nthis is not a pdf body").code == "file_unreadable"


def test_docx_paragraphs_and_tables_are_extracted():
    data = docx_with(["보도자료 작성 지침", "Second paragraph"], table=[["Name", "Value"], ["rate", "3.5%"]])

    extracted = text_extract(file_name="guide.docx", data=data)

    assert extracted.text == "보도자료 작성 지침\nSecond paragraph\nName | Value\nrate | 3.5%"
    assert extracted.content_type.endswith("wordprocessingml.document")


def test_a_non_docx_named_docx_is_refused():
    assert refusal("fake.docx", b"plain text, not a zip").code == "file_unreadable"


@pytest.mark.parametrize(
    ("file_name", "content_type"), [("a.txt", "text/plain"), ("b.md", "text/markdown"), ("c.csv", "text/csv")]
)
def test_utf8_text_files(file_name, content_type):
    extracted = text_extract(file_name=file_name, data="첫 줄\r\nsecond line\r\n".encode())

    assert extracted.text == "첫 줄\nsecond line"
    assert extracted.content_type == content_type


def test_utf8_bom_utf16_and_cp949_text_is_decoded():
    assert text_extract(file_name="a.txt", data="\ufeffhello".encode()).text == "hello"
    assert text_extract(file_name="b.txt", data="안녕하세요".encode("utf-16")).text == "안녕하세요"
    assert text_extract(file_name="c.txt", data="안녕하세요 보도자료".encode("cp949")).text == "안녕하세요 보도자료"


def test_binary_renamed_to_txt_is_refused():
    png_header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256))

    error = refusal("image.txt", png_header)

    assert error.code == "file_unreadable"
    assert "not readable text" in error.message


def test_undecodable_bytes_are_refused():
    assert refusal("random.txt", bytes([0xFF, 0xFE - 1, 0x80, 0x81] * 50)).code == "file_unreadable"


def test_unsupported_extension_is_refused_listing_allowed_types():
    error = refusal("slides.pptx", b"whatever")

    assert error.code == "file_type_unsupported"
    assert ".docx" in error.message and ".pdf" in error.message


def test_empty_text_is_refused():
    assert refusal("blank.txt", b"  \n\n ").code == "file_empty"


def test_upload_size_limit(settings):
    settings.PROMPTS_MAX_UPLOAD_BYTES = 100

    error = refusal("big.txt", b"x" * 101)

    assert error.code == "file_too_large"
    assert "larger than the upload limit of 100 bytes" in error.message
    assert text_extract(file_name="ok.txt", data=b"x" * 100).text == "x" * 100
