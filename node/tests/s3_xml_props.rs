//! Property tests of the S3 XML the node reads and writes: the CompleteMultipartUpload and
//! DeleteObjects request parsers never panic on any bytes and round-trip generated documents
//! (keys and ETags with every character class XML must escape, whitespace, namespaces,
//! CDATA, unknown elements); the listing and DeleteResult replies escape every key, prefix
//! and message so that quick-xml reads back exactly what was written.

use engine::store::ListEntry;
use node::s3::list::{listing_xml, ListPage, Paging};
use node::s3::xml::{
    delete_result, escape_text, flatten, parse_complete, parse_delete, DELETE_KEYS_MAX,
};
use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::Reader;

/// Text with the characters XML treats specially: markup, quotes, entities-to-be, control
/// characters (tab, newline, carriage return and others), spaces at either end, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<".to_string()),
        Just(">".to_string()),
        Just("&".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("&amp;".to_string()),
        Just("]]>".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\r\n".to_string()),
        Just("\u{1}".to_string()),
        Just("\u{1f}".to_string()),
        Just("\u{7f}".to_string()),
        Just("/".to_string()),
        Just("ü".to_string()),
        Just("日本".to_string()),
        Just("😀".to_string()),
        Just("\u{feff}".to_string()),
        "[a-zA-Z0-9._-]{1,8}",
        any::<char>()
            .prop_filter("no NUL", |c| *c != '\0')
            .prop_map(String::from),
    ];
    prop::collection::vec(piece, 1..8).prop_map(|v| v.concat())
}

fn esc(s: &str) -> String {
    let mut out = String::new();
    escape_text(&mut out, s);
    out
}

/// Whitespace between elements, as clients pretty-print.
fn ws() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\n".to_string()),
        Just("\n  ".to_string()),
        Just(" \t".to_string())
    ]
}

/// One element's text as a client may write it: escaped, or (when it has no `]]>`) CDATA.
fn write_text(s: &str, cdata: bool) -> String {
    if cdata
        && !s.contains("]]>")
        && !s.contains('\r')
        && !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n')
    {
        format!("<![CDATA[{s}]]>")
    } else {
        esc(s)
    }
}

/// Texts of every element named `name` in `doc`, read with quick-xml's own reader (no
/// trimming), entities and character references resolved.
fn texts_of(doc: &str, name: &str) -> Vec<String> {
    let mut r = Reader::from_str(doc);
    let mut out = Vec::new();
    let mut inside: Option<String> = None;
    loop {
        match r.read_event().expect("well-formed") {
            Event::Start(e) if e.local_name().as_ref() == name.as_bytes() => {
                inside = Some(String::new())
            }
            Event::Text(t) => {
                if let Some(s) = &mut inside {
                    s.push_str(&t.unescape().expect("escapes resolve"));
                }
            }
            Event::End(e) if e.local_name().as_ref() == name.as_bytes() => {
                out.push(inside.take().expect("open"))
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = flatten(&body);
        if let Err(e) = parse_complete(&body) {
            prop_assert_eq!((e.status, e.code), (400, "MalformedXML"));
        }
        if let Err(e) = parse_delete(&body) {
            prop_assert_eq!((e.status, e.code), (400, "MalformedXML"));
        }
    }

    #[test]
    fn parsers_never_panic_on_xmlish_text(toks in prop::collection::vec(prop_oneof![
        Just("<CompleteMultipartUpload>"), Just("</CompleteMultipartUpload>"),
        Just("<Delete xmlns=\"x\">"), Just("</Delete>"), Just("<Object>"), Just("</Object>"),
        Just("<Key>"), Just("</Key>"), Just("<Part>"), Just("</Part>"), Just("<PartNumber>"),
        Just("</PartNumber>"), Just("<ETag>"), Just("</ETag>"), Just("<Quiet/>"),
        Just("<![CDATA["), Just("]]>"), Just("&amp;"), Just("&#x1;"), Just("&#0;"),
        Just("&#xD800;"), Just("&bogus;"), Just("&"), Just("<"), Just("<?xml version=\"1.0\"?>"),
        Just("<!DOCTYPE x [<!ENTITY a \"b\">]>"), Just("<!-- c -->"), Just("1"), Just("99999999999"),
        Just("-1"), Just(" "), Just("\u{0}"), Just("é"),
    ], 0..40)) {
        let body = toks.concat();
        let _ = flatten(body.as_bytes());
        let _ = parse_complete(body.as_bytes());
        let _ = parse_delete(body.as_bytes());
    }

    #[test]
    fn complete_documents_round_trip(
        parts in prop::collection::vec((1u32..=10_000, text(), any::<bool>(), any::<bool>()), 1..20),
        ns in any::<bool>(),
        decl in any::<bool>(),
        sp in ws(),
    ) {
        // Each Part: number and ETag in either order, an unknown checksum element, CDATA or
        // escaped ETag text; the ETag is compared trimmed (S3 ignores surrounding space).
        let mut doc = String::new();
        if decl {
            doc.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
        doc.push_str(if ns {
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        } else {
            "<CompleteMultipartUpload>"
        });
        for (n, etag, etag_first, cdata) in &parts {
            let num = format!("<PartNumber>{sp}{n}{sp}</PartNumber>");
            let tag = format!("<ETag>{}</ETag>", write_text(etag, *cdata));
            doc.push_str(&sp);
            doc.push_str("<Part>");
            doc.push_str(&sp);
            if *etag_first {
                doc.push_str(&tag);
                doc.push_str(&sp);
                doc.push_str(&num);
            } else {
                doc.push_str(&num);
                doc.push_str("<ChecksumCRC32>AAAAAA==</ChecksumCRC32>");
                doc.push_str(&tag);
            }
            doc.push_str(&sp);
            doc.push_str("</Part>");
        }
        doc.push_str(&sp);
        doc.push_str("</CompleteMultipartUpload>\n");
        let got = parse_complete(doc.as_bytes()).map_err(|e| TestCaseError::fail(format!("{}: {doc:?}", e.message)))?;
        let got: Vec<(u32, String)> = got.into_iter().map(|p| (p.num, p.etag)).collect();
        let want: Vec<(u32, String)> = parts.iter().map(|(n, e, _, _)| (*n, e.trim().to_string())).collect();
        prop_assert_eq!(got, want, "{:?}", doc);
    }

    #[test]
    fn delete_documents_round_trip(
        keys in prop::collection::vec((text(), any::<bool>(), any::<bool>()), 1..40),
        quiet in prop::option::of(any::<bool>()),
        sp in ws(),
    ) {
        // Keys exactly as sent (spaces at the ends kept), with VersionId elements and Quiet.
        let mut doc = format!("<?xml version=\"1.0\"?>{sp}<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        if let Some(q) = quiet {
            doc.push_str(&format!("{sp}<Quiet>{sp}{q}{sp}</Quiet>"));
        }
        for (k, cdata, version) in &keys {
            doc.push_str(&format!("{sp}<Object>{sp}<Key>{}</Key>", write_text(k, *cdata)));
            if *version {
                doc.push_str("<VersionId/>");
            }
            doc.push_str(&format!("{sp}</Object>"));
        }
        doc.push_str("</Delete>");
        let (got, q) = parse_delete(doc.as_bytes()).map_err(|e| TestCaseError::fail(format!("{}: {doc:?}", e.message)))?;
        let want: Vec<String> = keys.iter().map(|(k, _, _)| k.clone()).collect();
        prop_assert!(got.iter().all(|o| o.version_id.is_none()), "an empty VersionId is none: {:?}", doc);
        let got: Vec<String> = got.into_iter().map(|o| o.key).collect();
        prop_assert_eq!(got, want, "{:?}", doc);
        prop_assert_eq!(q, quiet.unwrap_or(false));
    }

    #[test]
    fn listing_escapes_every_key(
        mut names in prop::collection::vec(text(), 0..30),
        prefix in prop::option::of(text()),
        delimiter in prop::option::of(text()),
        marker in text(),
        v2 in any::<bool>(),
        url in any::<bool>(),
    ) {
        // Every name, prefix, delimiter and marker comes back from the ListBucketResult as
        // written (percent-decoded with encoding-type=url); no raw control byte but tab/newline.
        let prefix = prefix.unwrap_or_default();
        let delimiter = delimiter.unwrap_or_default();
        names.sort();
        names.dedup();
        let names: Vec<String> = names.into_iter().map(|n| format!("{prefix}{n}")).collect();
        let entries: Vec<ListEntry> = names
            .iter()
            .map(|n| ListEntry { name: n.clone(), size: 1, etag: "e".into(), ..Default::default() })
            .collect();
        let mut paging: Paging<ListEntry> = Paging::new(&prefix, &delimiter, String::new(), 1000);
        paging.feed(entries, |e| e.name.as_str(), false);
        let page = ListPage {
            bucket: "b",
            prefix: &prefix,
            delimiter: &delimiter,
            url,
            max_keys: 1000,
            v2,
            token: None,
            start_after: &marker,
            marker: &marker,
        };
        let doc = listing_xml(&page, &paging);
        prop_assert!(!doc.chars().any(|c| c.is_ascii_control() && c != '\n' && c != '\t'), "{:?}", doc);
        let dec = |s: String| if url { net::url::percent_decode(&s).unwrap() } else { s };
        let keys: Vec<String> = texts_of(&doc, "Key").into_iter().map(dec).collect();
        let mut want_keys = Vec::new();
        let mut want_prefixes = vec![prefix.clone()];
        for it in &paging.items {
            match it {
                node::s3::list::Item::Key(e) => want_keys.push(e.name.clone()),
                node::s3::list::Item::Prefix(p) => want_prefixes.push(p.clone()),
            }
        }
        prop_assert_eq!(keys, want_keys, "{:?}", doc);
        let prefixes: Vec<String> = texts_of(&doc, "Prefix").into_iter().map(dec).collect();
        prop_assert_eq!(prefixes, want_prefixes, "{:?}", doc);
        if !delimiter.is_empty() {
            prop_assert_eq!(texts_of(&doc, "Delimiter").into_iter().map(dec).collect::<Vec<_>>(), vec![delimiter.clone()]);
        }
        let m = if v2 { "StartAfter" } else { "Marker" };
        prop_assert_eq!(texts_of(&doc, m).into_iter().map(dec).collect::<Vec<_>>(), vec![marker.clone()]);
    }

    #[test]
    fn delete_result_escapes_keys_and_messages(
        outcomes in prop::collection::vec((text(), prop::option::of(text())), 0..30),
        quiet in any::<bool>(),
    ) {
        let outcomes: Vec<(String, Option<node::s3::error::S3Error>)> = outcomes
            .into_iter()
            .map(|(k, m)| (k, m.map(|m| node::s3::error::S3Error::new(400, "InvalidArgument", m))))
            .collect();
        let doc = delete_result(&outcomes, quiet);
        prop_assert!(!doc.chars().any(|c| c.is_ascii_control() && c != '\n' && c != '\t'), "{:?}", doc);
        let want_keys: Vec<String> = outcomes
            .iter()
            .filter(|(_, e)| e.is_some() || !quiet)
            .map(|(k, _)| k.clone())
            .collect();
        prop_assert_eq!(texts_of(&doc, "Key"), want_keys.clone(), "{:?}", doc);
        let want_msgs: Vec<String> = outcomes.iter().filter_map(|(_, e)| e.as_ref().map(|e| e.message.clone())).collect();
        prop_assert_eq!(texts_of(&doc, "Message"), want_msgs);
        // What the node writes, the node's own parser reads back too.
        let flat = flatten(doc.as_bytes()).unwrap();
        let keys: Vec<String> = flat.into_iter().filter(|(p, _)| p.ends_with("/Key")).map(|(_, v)| v).collect();
        prop_assert_eq!(keys, want_keys);
    }
}

#[test]
fn too_many_delete_keys_is_malformed() {
    // Goal: more keys than S3 allows in one request is refused, not truncated.
    let mut doc = String::from("<Delete>");
    for i in 0..=DELETE_KEYS_MAX {
        doc.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
    }
    doc.push_str("</Delete>");
    assert_eq!(
        parse_delete(doc.as_bytes()).unwrap_err().code,
        "MalformedXML"
    );
}
