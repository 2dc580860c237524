//! What a reader sees of an HTML page (also used by the server's unit tests).
#![allow(dead_code)]

/// The text of `html`: tags, scripts and styles left out, entities decoded.
pub fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let tag = &rest[open..];
        let element_end = ["<script", "<style"]
            .iter()
            .find(|t| tag.starts_with(*t))
            .and_then(|t| {
                let close = format!("</{}>", &t[1..]);
                tag.find(&close).map(|at| at + close.len() - 1)
            });
        let end = element_end.or_else(|| tag.find('>')).unwrap_or(tag.len() - 1);
        rest = &tag[end + 1..];
    }
    text.push_str(rest);
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
