//! S3 XML: a small writer whose every text is escaped by `quick-xml` (keys, prefixes, messages),
//! a reader that flattens a request body into `(path, text)` pairs, the two request bodies the
//! node parses (CompleteMultipartUpload, DeleteObjects), and the `url` encoding of keys that
//! `encoding-type=url` asks for. Properties: `node/tests/s3_xml_props.rs`.

use engine::store::S3Part;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::error::S3Error;

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

    /// `<name>text</name>`, the text escaped (`escape_text`).
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        escape_text(&mut self.out, text);
        self.close(name)
    }

    /// The finished document.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// Appends `text` escaped for element content: `&<>'"` as entities (quick-xml's set), and
/// every control character but tab and newline as a character reference (`&#xD;`), so a
/// carriage return survives a parser's line-end normalisation and no raw control byte is
/// written. (XML 1.0 has no form for most C0 controls; quick-xml reads the references back,
/// and clients that cannot ask for `encoding-type=url`, as S3 advises.)
pub fn escape_text(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| c.is_ascii_control() && c != '\t' && c != '\n') {
        out.push_str(&quick_xml::escape::escape(&rest[..i]));
        let c = rest.as_bytes()[i];
        out.push_str(&format!("&#x{c:X};"));
        rest = &rest[i + 1..];
    }
    out.push_str(&quick_xml::escape::escape(rest));
}

/// A malformed request body (S3 `MalformedXML`).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Flattens an XML document into `(path, text)` pairs in document order, where `path` is the
/// slash-joined element names from the root (`Delete/Object/Key`) and `text` the unescaped
/// text of that element (empty for an empty element). Namespaces prefixes are dropped.
pub fn flatten(body: &[u8]) -> Result<Vec<(String, String)>, Malformed> {
    // Text is kept as sent (a key may begin or end with spaces); whitespace between elements
    // lands in the parent's text, which no caller reads, and is allowed around the root.
    let mut r = Reader::from_reader(body);
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
                    None if s.chars().all(|c| c.is_ascii_whitespace()) => {}
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

/// The most keys one DeleteObjects may name (S3's limit).
pub const DELETE_KEYS_MAX: usize = 1000;

/// The parts of a `CompleteMultipartUpload` body, in the order given.
pub fn parse_complete(body: &[u8]) -> Result<Vec<S3Part>, S3Error> {
    let kv = flatten(body).map_err(|Malformed(m)| S3Error::malformed_xml(m))?;
    if kv.first().map(|(p, _)| p.as_str()) != Some("CompleteMultipartUpload") {
        return Err(S3Error::malformed_xml(
            "expecting a CompleteMultipartUpload document",
        ));
    }
    // (number, etag) of each Part element, filled as its children come.
    let mut parts: Vec<(Option<u32>, String)> = Vec::new();
    for (p, v) in kv {
        match p.as_str() {
            "CompleteMultipartUpload/Part" => parts.push((None, String::new())),
            "CompleteMultipartUpload/Part/PartNumber" => {
                let n = v.trim().parse::<u32>().map_err(|_| {
                    S3Error::malformed_xml(format!("PartNumber {v:?} is not a number"))
                })?;
                if let Some(last) = parts.last_mut() {
                    last.0 = Some(n);
                }
            }
            "CompleteMultipartUpload/Part/ETag" => {
                if let Some(last) = parts.last_mut() {
                    last.1 = v.trim().to_string();
                }
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        return Err(S3Error::malformed_xml(
            "The XML you provided was not well-formed or did not validate against our \
             published schema: no Part",
        ));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (n, etag))| {
            let num = n.ok_or_else(|| {
                S3Error::malformed_xml(format!("Part {} has no PartNumber", i + 1))
            })?;
            Ok(S3Part { num, etag })
        })
        .collect()
}

/// One `Object` of a DeleteObjects body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteObject {
    pub key: String,
    /// Its `VersionId` (an empty element counts as none).
    pub version_id: Option<String>,
}

/// The objects and Quiet flag of a DeleteObjects body. Every `Object` needs one `Key`.
pub fn parse_delete(body: &[u8]) -> Result<(Vec<DeleteObject>, bool), S3Error> {
    let kv = flatten(body).map_err(|Malformed(m)| S3Error::malformed_xml(m))?;
    if kv.first().map(|(p, _)| p.as_str()) != Some("Delete") {
        return Err(S3Error::malformed_xml("expecting a Delete document"));
    }
    // `flatten` lists each element as it opens, so "Delete/Object" starts the next object and
    // its Key and VersionId may come in either order.
    let mut objects: Vec<(Option<String>, Option<String>)> = Vec::new();
    let mut quiet = false;
    for (p, v) in kv {
        match p.as_str() {
            "Delete/Object" => objects.push((None, None)),
            "Delete/Object/Key" | "Delete/Object/VersionId" => {
                let Some(o) = objects.last_mut() else {
                    return Err(S3Error::malformed_xml("Key or VersionId outside an Object"));
                };
                let slot = if p.ends_with("/Key") {
                    &mut o.0
                } else {
                    &mut o.1
                };
                if slot.replace(v).is_some() {
                    return Err(S3Error::malformed_xml(format!("an Object with two {p}")));
                }
            }
            "Delete/Quiet" => quiet = v.trim().eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    let keys = objects
        .into_iter()
        .map(|(key, version_id)| {
            Ok(DeleteObject {
                key: key.ok_or_else(|| S3Error::malformed_xml("an Object without a Key"))?,
                version_id: version_id.filter(|v| !v.is_empty()),
            })
        })
        .collect::<Result<Vec<_>, S3Error>>()?;
    if keys.is_empty() {
        return Err(S3Error::malformed_xml("no Object/Key in Delete"));
    }
    if keys.len() > DELETE_KEYS_MAX {
        return Err(S3Error::malformed_xml(format!(
            "{} keys: at most {DELETE_KEYS_MAX} per request",
            keys.len()
        )));
    }
    Ok((keys, quiet))
}

/// The `DeleteResult` of a DeleteObjects: each key deleted (listed unless `quiet`) or failed
/// with its S3 error code and message, in request order.
pub fn delete_result(outcomes: &[(String, Option<S3Error>)], quiet: bool) -> String {
    let mut x = Xml::new();
    x.root("DeleteResult");
    for (k, err) in outcomes {
        match err {
            None if quiet => {}
            None => {
                x.open("Deleted").elem("Key", k).close("Deleted");
            }
            Some(s) => {
                x.open("Error")
                    .elem("Key", k)
                    .elem("Code", s.code)
                    .elem("Message", &s.message)
                    .close("Error");
            }
        }
    }
    x.close("DeleteResult");
    x.finish()
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
    fn complete_body_parts_in_order() {
        // Goal: every Part's number and ETag, in document order (order is checked later).
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Part><ETag>"aa"</ETag><PartNumber>2</PartNumber></Part>
<Part><PartNumber>1</PartNumber><ETag>bb</ETag><ChecksumCRC32>x</ChecksumCRC32></Part>
</CompleteMultipartUpload>"#;
        let p = parse_complete(body).unwrap();
        let got: Vec<(u32, &str)> = p.iter().map(|p| (p.num, p.etag.as_str())).collect();
        assert_eq!(got, [(2, "\"aa\""), (1, "bb")]);
    }

    #[test]
    fn delete_body_version_ids() {
        // Goal: each Object's VersionId pairs with its own Key in either order, an empty one
        // is none; an Object without a Key or with two is MalformedXML, not skipped.
        let body = b"<Delete><Object><Key>a</Key><VersionId>v1</VersionId></Object>\
            <Object><VersionId>v2</VersionId><Key>b</Key></Object>\
            <Object><Key>c</Key></Object><Object><Key>d</Key><VersionId/></Object></Delete>";
        let (got, quiet) = parse_delete(body).unwrap();
        let got: Vec<(&str, Option<&str>)> = got
            .iter()
            .map(|o| (o.key.as_str(), o.version_id.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Some("v1")),
                ("b", Some("v2")),
                ("c", None),
                ("d", None)
            ]
        );
        assert!(!quiet);
        for body in [
            &b"<Delete><Object><VersionId>v</VersionId></Object></Delete>"[..],
            b"<Delete><Object><Key>a</Key></Object><Object/></Delete>",
            b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
        ] {
            let e = parse_delete(body).unwrap_err();
            assert_eq!(e.code, "MalformedXML", "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn complete_body_refusals() {
        // Goal: no parts, a part without a number, a non-number, another root: MalformedXML.
        for body in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
            b"<Delete><Part><PartNumber>1</PartNumber></Part></Delete>",
            b"<CompleteMultipartUpload><Part>",
        ] {
            let e = parse_complete(body).unwrap_err();
            assert_eq!(e.code, "MalformedXML", "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn url_encoding() {
        // Goal: encoding-type=url output decodes back with either unquote flavour.
        assert_eq!(url_encode("a b+c/d%e&"), "a%20b%2Bc/d%25e%26");
    }
}
