//! S3 XML: a small writer whose every text is escaped by `quick-xml` (keys, prefixes, messages),
//! a reader that flattens a request body into `(path, text)` pairs, and the `url` encoding of
//! keys that `encoding-type=url` asks for.

use quick_xml::events::Event;
use quick_xml::Reader;

/// The XML declaration every S3 body starts with.
pub const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// S3's namespace, on the root element of replies.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document; element names are fixed by the caller, text is always escaped.
pub struct Xml {
    out: String,
}

impl Default for Xml {
    fn default() -> Self {
        Xml::new()
    }
}

impl Xml {
    /// A document with the XML declaration.
    pub fn new() -> Xml {
        Xml {
            out: String::from(DECL),
        }
    }

    /// Opens the root element `name` with S3's namespace.
    pub fn root(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        self.out.push_str(NS);
        self.out.push_str("\">");
        self
    }

    /// Opens element `name`.
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes element `name`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>`, the text escaped.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        self.out.push_str(&quick_xml::escape::escape(text));
        self.close(name)
    }

    /// The finished document.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// A malformed request body (S3 `MalformedXML`).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Flattens an XML document into `(path, text)` pairs in document order, where `path` is the
/// slash-joined element names from the root (`Delete/Object/Key`) and `text` the unescaped
/// text of that element (empty for an empty element). Namespaces prefixes are dropped.
pub fn flatten(body: &[u8]) -> Result<Vec<(String, String)>, Malformed> {
    let mut r = Reader::from_reader(body);
    r.config_mut().trim_text(true);
    let mut stack: Vec<String> = Vec::new();
    let mut out: Vec<(String, String)> = Vec::new();
    // Index in `out` of the entry of each open element.
    let mut open_at: Vec<usize> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let ev = r
            .read_event_into(&mut buf)
            .map_err(|e| Malformed(format!("{e}")))?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(name);
                open_at.push(out.len());
                out.push((stack.join("/"), String::new()));
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let mut p = stack.join("/");
                if !p.is_empty() {
                    p.push('/');
                }
                p.push_str(&name);
                out.push((p, String::new()));
            }
            Event::End(_) => {
                stack.pop();
                open_at.pop();
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| Malformed(format!("{e}")))?;
                match open_at.last() {
                    Some(&i) => out[i].1.push_str(&s),
                    None => return Err(Malformed("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                let s = String::from_utf8_lossy(&t).into_owned();
                match open_at.last() {
                    Some(&i) => out[i].1.push_str(&s),
                    None => return Err(Malformed("text outside the root element".into())),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(Malformed("unclosed element".into()));
    }
    if out.is_empty() {
        return Err(Malformed("no root element".into()));
    }
    Ok(out)
}

/// `encoding-type=url`: percent-encodes everything except RFC 3986 unreserved characters and
/// `/` (a space becomes `%20`, `+` becomes `%2B`, so both `unquote` and `unquote_plus` decode it).
pub fn url_encode(s: &str) -> String {
    net::url::percent_encode_path(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        // Goal: keys with XML metacharacters come out escaped and parse back to themselves.
        let key = "a<b>&c\"d'e/ü";
        let mut x = Xml::new();
        x.root("R").elem("Key", key).close("R");
        let doc = x.finish();
        assert!(!doc.contains("a<b>"), "{doc}");
        assert!(doc.contains("a&lt;b&gt;&amp;c"), "{doc}");
        let back = flatten(doc.as_bytes()).unwrap();
        assert_eq!(
            back,
            vec![("R".into(), String::new()), ("R/Key".into(), key.into())]
        );
    }

    #[test]
    fn flatten_delete_request() {
        // Goal: a DeleteObjects body yields every key in order, with Quiet and empty elements.
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
<Object><Key>a&amp;b</Key></Object><Object><Key>c d</Key><VersionId/></Object></Delete>"#;
        let v = flatten(body).unwrap();
        let keys: Vec<&str> = v
            .iter()
            .filter(|(p, _)| p == "Delete/Object/Key")
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(keys, ["a&b", "c d"]);
        assert!(v.contains(&("Delete/Quiet".into(), "true".into())));
        assert!(v.contains(&("Delete/Object/VersionId".into(), String::new())));
    }

    #[test]
    fn malformed_is_refused() {
        // Goal: broken documents are errors, not partial results.
        assert!(flatten(b"<Delete><Object><Key>a</Key></Object>").is_err());
        assert!(flatten(b"").is_err());
        assert!(flatten(b"<a></b>").is_err());
    }

    #[test]
    fn url_encoding() {
        // Goal: encoding-type=url output decodes back with either unquote flavour.
        assert_eq!(url_encode("a b+c/d%e&"), "a%20b%2Bc/d%25e%26");
    }
}
