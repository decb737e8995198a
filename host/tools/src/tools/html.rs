//! HTML to readable text for `http_fetch`, hand-written: a forgiving
//! single-pass tag scanner, not a DOM (html2text would pull in html5ever and
//! a tree builder for what is a lossy summary anyway).
//!
//! Drops `head`, `script`, `style`, `nav`, `noscript`, `template`, `svg`,
//! `iframe` and comments; block elements become line breaks, list items
//! `- `, headings `#`-prefixed lines, links `text (url)` with the URL made
//! absolute against the page, images their `[alt]`; common entities are
//! decoded and whitespace is collapsed (kept inside `pre`). The page
//! `<title>` becomes a `# ` first line.

/// Elements whose whole content is dropped.
const SKIP: &[&str] = &[
    "head", "script", "style", "nav", "noscript", "template", "svg", "iframe", "canvas", "select",
];
/// Elements whose content is raw text (no tags inside).
const RAW: &[&str] = &["script", "style", "textarea", "title"];
/// Elements that break lines.
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "caption",
];

/// Converts an HTML document to readable text. `base` is the page URL, used
/// to make link targets absolute.
pub(crate) fn html_to_text(html: &str, base: &str) -> String {
    let mut out = Out::default();
    let mut title: Option<String> = None;
    let mut skip_depth: Vec<String> = Vec::new();
    let mut links: Vec<(usize, String)> = Vec::new();
    let mut pre = 0usize;
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < html.len() {
        if bytes[i] != b'<' {
            let end = html[i..].find('<').map_or(html.len(), |j| i + j);
            if skip_depth.is_empty() {
                out.text(&decode_entities(&html[i..end]), pre > 0);
            }
            i = end;
            continue;
        }
        // comments, doctype, processing instructions
        if html[i..].starts_with("<!--") {
            i = html[i + 4..]
                .find("-->")
                .map_or(html.len(), |j| i + 4 + j + 3);
            continue;
        }
        if html[i..].starts_with("<!") || html[i..].starts_with("<?") {
            i = html[i..].find('>').map_or(html.len(), |j| i + j + 1);
            continue;
        }
        let Some(tag) = parse_tag(&html[i..]) else {
            // a lone `<`: literal text
            if skip_depth.is_empty() {
                out.text("<", pre > 0);
            }
            i += 1;
            continue;
        };
        i += tag.len;
        let name = tag.name.as_str();

        if !tag.closing && RAW.contains(&name) {
            // skip to the matching close tag, case-insensitively
            let close = format!("</{name}");
            let rest = &html[i..];
            let end = find_ci(rest, &close).unwrap_or(rest.len());
            if name == "title" && title.is_none() {
                title = Some(collapse(&decode_entities(&rest[..end])));
            } else if name == "textarea" && skip_depth.is_empty() {
                out.text(&decode_entities(&rest[..end]), false);
            }
            i += end;
            i = html[i..].find('>').map_or(html.len(), |j| i + j + 1);
            continue;
        }
        if SKIP.contains(&name) {
            if tag.closing {
                if let Some(pos) = skip_depth.iter().rposition(|n| n == name) {
                    skip_depth.truncate(pos);
                }
            } else if !tag.self_closing {
                skip_depth.push(name.to_string());
            }
            continue;
        }
        if !skip_depth.is_empty() {
            continue;
        }
        match (name, tag.closing) {
            ("br", _) => out.newline(1),
            ("hr", false) => {
                out.newline(1);
                out.raw("---");
                out.newline(1);
            }
            ("li", false) => {
                out.newline(1);
                out.raw("- ");
            }
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => {
                out.newline(2);
                let level = name.as_bytes()[1] - b'0';
                out.raw(&"#".repeat(level as usize));
                out.raw(" ");
            }
            ("p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "blockquote", _) => {
                out.newline(2)
            }
            ("pre", false) => {
                out.newline(2);
                pre += 1;
            }
            ("pre", true) => {
                pre = pre.saturating_sub(1);
                out.newline(2);
            }
            ("td" | "th", false) => out.raw_sep(" | "),
            ("a", false) => {
                if let Some(href) = tag.attr("href") {
                    links.push((out.buf.len(), href.to_string()));
                }
            }
            ("a", true) => {
                if let Some((start, href)) = links.pop() {
                    let text = out.buf[start..].trim().to_string();
                    if let Some(url) = absolute(base, href.trim())
                        && !text.is_empty()
                        && text != url
                    {
                        out.raw(&format!(" ({url})"));
                    }
                }
            }
            ("img", _) => {
                if let Some(alt) = tag.attr("alt").map(str::trim).filter(|a| !a.is_empty()) {
                    out.text(&format!("[{}]", decode_entities(alt)), false);
                }
            }
            _ if BLOCK.contains(&name) => out.newline(1),
            _ => {}
        }
    }
    let body = out.finish();
    match title.filter(|t| !t.is_empty()) {
        Some(t) if !body.starts_with(&format!("# {t}")) => format!("# {t}\n\n{body}"),
        _ => body,
    }
}

/// Output with whitespace collapsing and bounded blank lines.
#[derive(Default)]
struct Out {
    buf: String,
    /// A space is owed before the next word.
    pending_space: bool,
}

impl Out {
    fn text(&mut self, s: &str, preformatted: bool) {
        if preformatted {
            self.flush_space();
            self.buf.push_str(s);
            return;
        }
        for (i, word) in s.split(|c: char| c.is_whitespace()).enumerate() {
            if i > 0 {
                self.pending_space = true;
            }
            if !word.is_empty() {
                self.flush_space();
                self.buf.push_str(word);
            }
        }
    }

    fn flush_space(&mut self) {
        if self.pending_space && !self.buf.is_empty() && !self.buf.ends_with(['\n', ' ']) {
            self.buf.push(' ');
        }
        self.pending_space = false;
    }

    fn raw(&mut self, s: &str) {
        self.flush_space();
        self.buf.push_str(s);
    }

    /// A separator that is not repeated and never starts a line.
    fn raw_sep(&mut self, sep: &str) {
        self.pending_space = false;
        if !self.buf.is_empty() && !self.buf.ends_with('\n') && !self.buf.ends_with(sep) {
            self.buf.push_str(sep);
        }
    }

    /// Ends the line so that at least `n` newlines (at most 2) separate blocks.
    fn newline(&mut self, n: usize) {
        self.pending_space = false;
        while self.buf.ends_with(' ') {
            self.buf.pop();
        }
        if self.buf.is_empty() {
            return;
        }
        let have = self.buf.len() - self.buf.trim_end_matches('\n').len();
        for _ in have..n.min(2) {
            self.buf.push('\n');
        }
    }

    fn finish(self) -> String {
        let lines: Vec<&str> = self.buf.lines().map(str::trim_end).collect();
        let mut out = String::with_capacity(self.buf.len());
        let mut blank = 0;
        for line in lines {
            if line.is_empty() {
                blank += 1;
                if blank > 1 {
                    continue;
                }
            } else {
                blank = 0;
            }
            out.push_str(line);
            out.push('\n');
        }
        out.trim().to_string()
    }
}

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: Vec<(String, String)>,
    /// Bytes consumed, `<` to `>` inclusive.
    len: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a tag at the start of `s` (which starts with `<`).
fn parse_tag(s: &str) -> Option<Tag> {
    let b = s.as_bytes();
    let mut i = 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
        i += 1;
    }
    if i == start || !b[start].is_ascii_alphabetic() {
        return None;
    }
    let name = s[start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        match b.get(i) {
            None => return None,
            Some(b'>') => {
                i += 1;
                break;
            }
            Some(b'/') => {
                self_closing = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        let k0 = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let key = s[k0..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let v0 = i + 1;
                    let end = s[v0..].find(q as char).map(|j| v0 + j)?;
                    value = decode_entities(&s[v0..end]);
                    i = end + 1;
                }
                _ => {
                    let v0 = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = decode_entities(&s[v0..i]);
                }
            }
        }
        if key.is_empty() {
            i += 1; // stray character: skip it
        } else {
            attrs.push((key, value));
        }
    }
    Some(Tag {
        name,
        closing,
        self_closing,
        attrs,
        len: i,
    })
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    hay.as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes numeric and common named character references.
pub(crate) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest[..rest.len().min(12)].find(';');
        let decoded = semi.and_then(|semi| {
            let name = &rest[1..semi];
            let c = if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                code.and_then(char::from_u32).map(String::from)
            } else {
                named_entity(name).map(String::from)
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((text, used)) => {
                out.push_str(&text);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "ndash" => "–",
        "mdash" => "—",
        "hellip" => "…",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "laquo" => "«",
        "raquo" => "»",
        "bull" => "•",
        "middot" => "·",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "deg" => "°",
        "times" => "×",
        "divide" => "÷",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "sect" => "§",
        "para" => "¶",
        "plusmn" => "±",
        "frac12" => "½",
        "rarr" => "→",
        "larr" => "←",
        "shy" => "",
        "aacute" => "á",
        "agrave" => "à",
        "acirc" => "â",
        "auml" => "ä",
        "aring" => "å",
        "ccedil" => "ç",
        "eacute" => "é",
        "egrave" => "è",
        "ecirc" => "ê",
        "euml" => "ë",
        "iacute" => "í",
        "icirc" => "î",
        "iuml" => "ï",
        "ntilde" => "ñ",
        "oacute" => "ó",
        "ocirc" => "ô",
        "ouml" => "ö",
        "oslash" => "ø",
        "uacute" => "ú",
        "ugrave" => "ù",
        "ucirc" => "û",
        "uuml" => "ü",
        "szlig" => "ß",
        "Eacute" => "É",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "zwj" | "zwnj" => "",
        _ => return None,
    })
}

/// Makes `href` absolute against the page URL `base`; `None` for in-page
/// anchors, `javascript:` and other non-web links.
fn absolute(base: &str, href: &str) -> Option<String> {
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let lower = href.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(href.to_string());
    }
    if lower.starts_with("mailto:") {
        return Some(href.to_string());
    }
    if href.contains(':') && !href.starts_with('/') && !href.starts_with('.') {
        let scheme = href.split(':').next().unwrap_or_default();
        if scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return None; // javascript:, data:, tel:, ...
        }
    }
    let (scheme, rest) = base.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if let Some(r) = href.strip_prefix("//") {
        return Some(format!("{scheme}://{r}"));
    }
    if href.starts_with('/') {
        return Some(format!("{origin}{href}"));
    }
    let path = &rest[authority_end..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    if href.starts_with('?') {
        return Some(format!("{origin}{path}{href}"));
    }
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let mut segments: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let (href_path, suffix) = match href.find(['?', '#']) {
        Some(i) => (&href[..i], &href[i..]),
        None => (href, ""),
    };
    let parts: Vec<&str> = href_path.split('/').collect();
    for (i, seg) in parts.iter().enumerate() {
        match *seg {
            "." => {}
            ".." => {
                segments.pop();
            }
            s if s.is_empty() && i + 1 < parts.len() => {}
            s => segments.push(s),
        }
    }
    let trailing =
        if href_path.ends_with('/') || href_path.ends_with("/.") || href_path.ends_with("..") {
            "/"
        } else {
            ""
        };
    let joined = segments
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    Some(format!("{origin}/{joined}{trailing}{suffix}").replace("//?", "/?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_a_page() {
        let html = r##"<!DOCTYPE html>
<html><head><title>My &amp; Page</title><style>body { color: red }</style>
<script>if (a < b) { document.write("<p>no</p>") }</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Hello,   world</h1>
<p>First <b>bold</b> paragraph with a <a href="/docs/x?y=1">link</a> and
   an <a href="#top">anchor</a>.</p>
<!-- a comment <p>hidden</p> -->
<ul><li>one</li><li>two &mdash; 2</li></ul>
<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>
<pre>  keep
    this</pre>
<p>caf&eacute; &#233; &#x263A; 3 &lt; 4 <img src="x.png" alt="a cat"><br>next line</p>
<script type="text/javascript">var x = "</div>";</script>
<footer>bye</footer>
</body></html>"##;
        let text = html_to_text(html, "https://example.com/blog/post.html");
        let expected = "# My & Page\n\n\
            # Hello, world\n\n\
            First bold paragraph with a link (https://example.com/docs/x?y=1) and an anchor.\n\n\
            - one\n\
            - two — 2\n\n\
            k | v\n\
            a | 1\n\n  \
            keep\n    this\n\n\
            café é ☺ 3 < 4 [a cat]\n\
            next line\n\n\
            bye";
        assert_eq!(text, expected);
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp; b &quot;c&quot; &#39;d&#39; &unknown; & x"),
            "a & b \"c\" 'd' &unknown; & x"
        );
        assert_eq!(decode_entities("&#x1F600;&nbsp;"), "😀\u{a0}");
    }

    #[test]
    fn link_resolution() {
        let base = "https://ex.com/a/b/page?q=1";
        assert_eq!(absolute(base, "/x").unwrap(), "https://ex.com/x");
        assert_eq!(
            absolute(base, "c.html").unwrap(),
            "https://ex.com/a/b/c.html"
        );
        assert_eq!(absolute(base, "../c").unwrap(), "https://ex.com/a/c");
        assert_eq!(
            absolute(base, "//cdn.ex.com/y").unwrap(),
            "https://cdn.ex.com/y"
        );
        assert_eq!(
            absolute(base, "?p=2").unwrap(),
            "https://ex.com/a/b/page?p=2"
        );
        assert_eq!(absolute(base, "sub/").unwrap(), "https://ex.com/a/b/sub/");
        assert_eq!(absolute("https://ex.com", "x").unwrap(), "https://ex.com/x");
        assert!(absolute(base, "#top").is_none());
        assert!(absolute(base, "javascript:void(0)").is_none());
        assert_eq!(
            absolute(base, "http://other.org").unwrap(),
            "http://other.org"
        );
    }

    #[test]
    fn malformed_input_does_not_panic() {
        for s in [
            "<",
            "<a",
            "<a href=\"x",
            "a < b > c",
            "<p>unclosed",
            "</p>",
            "<<>>",
            "&#xFFFFFFFF;",
            "<ümlaut>é</ümlaut>",
            "<a href=x>t",
        ] {
            let _ = html_to_text(s, "http://x");
        }
        assert_eq!(html_to_text("a < b > c", "http://x"), "a < b > c");
    }
}
