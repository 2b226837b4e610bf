//! Binary content parts: `image_url` and `file` data URLs → Converse image and document blocks.
//!
//! Bedrock's JSON protocol carries blobs as base64 text, which is what a data URL already holds:
//! the text is validated and passed through, never decoded and re-encoded.

use std::borrow::Cow;

use super::param::At;
use crate::bedrock::converse::{BytesSource, ContentBlock, DocumentBlock, ImageBlock};
use crate::error::ApiError;
use crate::openai::{FilePart, ImageUrl};

/// Bedrock's limit on a document name.
const MAX_DOCUMENT_NAME: usize = 200;

/// A parsed `data:<mime>[;param…];base64,<data>` URL.
struct DataUrl<'a> {
    mime: &'a str,
    data: Cow<'a, str>,
}

fn parse_data_url<'a>(url: &'a str, at: At, field: &str) -> Result<DataUrl<'a>, ApiError> {
    let bad = |why: &str| at.invalid(field, format!("malformed data URL: {why}"));
    let rest = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .and_then(|_| url.get(5..))
        .ok_or_else(|| bad("expected `data:<mime type>;base64,<data>`"))?;
    let (header, data) = rest
        .split_once(',')
        .ok_or_else(|| bad("no `,` before the data"))?;
    let mut params = header.split(';');
    let mime = params.next().unwrap_or("").trim();
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(bad("only base64 data URLs are supported (`;base64,`)"));
    }
    Ok(DataUrl {
        mime,
        data: base64_text(data).ok_or_else(|| bad("the data is not valid base64"))?,
    })
}

/// The base64 text ready for Bedrock: standard alphabet, padded. Line breaks (MIME-style
/// wrapping) are removed; anything else invalid is refused. `None` when it is not base64.
fn base64_text(data: &str) -> Option<Cow<'_, str>> {
    let data = if data.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(data.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(data)
    };
    let bytes = data.as_bytes();
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return None;
    }
    let body_len = bytes.iter().rposition(|&b| b != b'=')?.checked_add(1)?;
    let padding = bytes.len().checked_sub(body_len)?;
    let valid = padding <= 2
        && bytes
            .iter()
            .take(body_len)
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    valid.then_some(data)
}

/// The image format the first bytes of base64 `data` announce (PNG, JPEG, GIF or WebP).
pub fn image_format(data: &str) -> Option<&'static str> {
    use base64::Engine as _;
    // 16 base64 characters are 12 bytes: enough for every signature below.
    let head = data.get(..16)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(head)
        .ok()?;
    match bytes.as_slice() {
        [0x89, b'P', b'N', b'G', ..] => Some("png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("jpeg"),
        [b'G', b'I', b'F', b'8', ..] => Some("gif"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("webp"),
        _ => None,
    }
}

/// Whether `s` is base64 Bedrock accepts as a blob (used for `redactedContent`).
pub fn is_base64(s: &str) -> bool {
    base64_text(s).is_some_and(|t| matches!(t, Cow::Borrowed(_)))
}

/// `image_url` → image block. Only data URLs: a filter cannot fetch remote images.
pub fn image<'a>(img: Option<&'a ImageUrl<'a>>, at: At) -> Result<ContentBlock<'a>, ApiError> {
    const URL: &str = "image_url.url";
    let url = img
        .and_then(|i| i.url.as_deref())
        .ok_or_else(|| at.invalid(URL, "an image_url part needs `image_url.url`"))?;
    image_url(url, at, URL)
}

/// An image URL → image block; errors name `<at>.<field>`. The Responses API's `input_image`
/// carries the URL directly, so it comes here with its own field name.
pub(crate) fn image_url<'a>(
    url: &'a str,
    at: At,
    field: &str,
) -> Result<ContentBlock<'a>, ApiError> {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return Err(at.invalid(
            field,
            "a gateway cannot fetch image URLs; send a data: URL (data:image/png;base64,…)",
        ));
    }
    let parsed = parse_data_url(url, at, field)?;
    // The bytes say what they are; clients label screenshots `image/jpeg` whatever they hold,
    // and Bedrock refuses an image whose bytes do not match its format.
    let format = match image_format(&parsed.data) {
        Some(f) => f,
        None => match parsed.mime.to_ascii_lowercase().as_str() {
            "image/png" => "png",
            "image/jpeg" | "image/jpg" => "jpeg",
            "image/gif" => "gif",
            "image/webp" => "webp",
            other => {
                return Err(at.invalid(
                    field,
                    format!("image type `{other}` is not supported: use png, jpeg, gif or webp"),
                ));
            }
        },
    };
    Ok(ContentBlock::Image(ImageBlock {
        format,
        source: BytesSource { bytes: parsed.data },
    }))
}

/// `file` → document block. `names` holds the document names already used in the request:
/// Bedrock wants them distinct.
pub fn document<'a>(
    file: Option<&'a FilePart<'a>>,
    at: At,
    names: &mut Vec<String>,
) -> Result<ContentBlock<'a>, ApiError> {
    const DATA: &str = "file.file_data";
    let file = file.ok_or_else(|| at.invalid("file", "a file part needs `file`"))?;
    let Some(url) = file.file_data.as_deref() else {
        let why = if file.file_id.is_some() {
            "uploaded files (`file_id`) are not available through this gateway; send `file_data` as a data: URL"
        } else {
            "a file part needs `file_data` (a data: URL)"
        };
        return Err(at.invalid(DATA, why));
    };
    file_data(url, file.filename.as_deref().unwrap_or(""), at, DATA, names)
}

/// A file's data (a data: URL, or bare base64 named by `filename`) → document block; errors
/// name `<at>.<field>`. The Responses API's `input_file` carries `file_data` directly, so it
/// comes here with its own field name.
pub(crate) fn file_data<'a>(
    url: &'a str,
    filename: &str,
    at: At,
    field: &str,
    names: &mut Vec<String>,
) -> Result<ContentBlock<'a>, ApiError> {
    // OpenAI documents a data: URL; some clients send the bare base64.
    let parsed = if url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        parse_data_url(url, at, field)?
    } else {
        DataUrl {
            mime: "",
            data: base64_text(url)
                .ok_or_else(|| at.invalid(field, "`file_data` must be a base64 data: URL"))?,
        }
    };
    let format = document_format(parsed.mime, filename).ok_or_else(|| {
        at.invalid(
            field,
            format!(
                "document type `{}` is not supported: use pdf, csv, doc, docx, xls, xlsx, html, txt or md",
                parsed.mime
            ),
        )
    })?;
    let mut name = document_name(filename);
    if names.contains(&name) {
        let base = name.clone();
        let mut n = 2usize;
        while names.contains(&name) {
            // The suffix must fit the 200 characters too (names are ASCII: cut anywhere).
            let suffix = format!(" ({n})");
            let keep = MAX_DOCUMENT_NAME.saturating_sub(suffix.len());
            let kept = base.get(..keep).unwrap_or(&base).trim_end();
            name = format!("{kept}{suffix}");
            n = n.saturating_add(1);
        }
    }
    names.push(name.clone());
    Ok(ContentBlock::Document(DocumentBlock {
        format,
        name,
        source: BytesSource { bytes: parsed.data },
    }))
}

fn document_format(mime: &str, filename: &str) -> Option<&'static str> {
    let by_mime = match mime.to_ascii_lowercase().as_str() {
        "application/pdf" => Some("pdf"),
        "text/csv" => Some("csv"),
        "application/msword" => Some("doc"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Some("docx"),
        "application/vnd.ms-excel" => Some("xls"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Some("xlsx"),
        "text/html" => Some("html"),
        "text/plain" => Some("txt"),
        "text/markdown" | "text/x-markdown" => Some("md"),
        _ => None,
    };
    if by_mime.is_some() {
        return by_mime;
    }
    // A generic mime type says nothing: the extension decides.
    if !matches!(mime, "" | "application/octet-stream") {
        return None;
    }
    let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    [
        "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
    ]
    .into_iter()
    .find(|f| *f == ext)
}

/// A document name as Bedrock allows it: alphanumerics, single whitespace, hyphens,
/// parentheses and square brackets, at most 200 characters. Directories and the extension are
/// dropped (the format carries it); other characters become hyphens.
pub fn document_name(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let stem = match base.rsplit_once('.') {
        Some((stem, ext))
            if !stem.trim().is_empty()
                && ext.len() <= 5
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => base,
    };
    let mut out = String::with_capacity(stem.len().min(MAX_DOCUMENT_NAME));
    for c in stem.chars() {
        let c = if c.is_whitespace() {
            ' '
        } else if c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else {
            '-'
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.len() >= MAX_DOCUMENT_NAME {
            break;
        }
        out.push(c);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if out.is_empty() {
        out.push_str("document");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_validation() {
        assert!(base64_text("aGk=").is_some());
        assert!(base64_text("aGVsbG8gd29ybGQ=").is_some());
        assert!(base64_text("aGk").is_none(), "unpadded");
        assert!(base64_text("aG!=").is_none());
        assert!(base64_text("a===").is_none());
        assert!(base64_text("").is_none());
        assert!(base64_text("aG=k").is_none(), "padding in the middle");
        assert_eq!(base64_text("aGVs\nbG8=").unwrap(), "aGVsbG8=");
        assert!(is_base64("aGk="));
        assert!(!is_base64("aG k="));
    }

    #[test]
    fn document_names_follow_bedrock_rules() {
        assert_eq!(document_name("report.pdf"), "report");
        assert_eq!(
            document_name("Q3  results_final (v2).xlsx"),
            "Q3 results-final (v2)"
        );
        assert_eq!(document_name("../etc/passwd"), "passwd");
        assert_eq!(document_name("C:\\docs\\v1.2 notes.txt"), "v1-2 notes");
        assert_eq!(document_name(""), "document");
        assert_eq!(document_name(".md"), "-md");
        assert_eq!(document_name("   "), "document");
        assert_eq!(document_name(&"a".repeat(300)).len(), 200);
        assert_eq!(document_name("naïve résumé.docx"), "na-ve r-sum-");
    }

    #[test]
    fn document_formats() {
        assert_eq!(document_format("application/pdf", ""), Some("pdf"));
        assert_eq!(document_format("TEXT/PLAIN", "x.pdf"), Some("txt"));
        assert_eq!(
            document_format("application/octet-stream", "a.DOCX"),
            Some("docx")
        );
        assert_eq!(document_format("image/png", "a.pdf"), None);
        assert_eq!(document_format("application/octet-stream", "a.exe"), None);
    }

    #[test]
    fn the_bytes_decide_the_image_format() {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let png = b64(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        let jpeg = b64(b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01");
        let gif = b64(b"GIF89a\x01\0\x01\0\x80\0\0\0");
        let webp = b64(b"RIFF\x24\0\0\0WEBPVP8 ");
        assert_eq!(image_format(&png), Some("png"));
        assert_eq!(image_format(&jpeg), Some("jpeg"));
        assert_eq!(image_format(&gif), Some("gif"));
        assert_eq!(image_format(&webp), Some("webp"));
        assert_eq!(
            image_format("iVBORw0KGgo="),
            None,
            "too short to tell: the label decides"
        );
        // PNG bytes labelled JPEG go to Bedrock as PNG.
        let url = format!("data:image/jpeg;base64,{png}");
        let img = ImageUrl {
            url: Some(Cow::Borrowed(&url)),
        };
        let Ok(ContentBlock::Image(block)) = image(Some(&img), At::Message(0)) else {
            panic!("not an image block")
        };
        assert_eq!(block.format, "png");
    }
}
