//! ListObjectsV2 and V1: S3 paging (prefix, delimiter → CommonPrefixes, max-keys,
//! continuation-token, start-after, marker, `encoding-type=url`) on top of the store's sorted,
//! name-paged listing.
//!
//! `Paging` is the pure part: it takes store pages (names in order, after a point) and makes
//! one S3 page of at most `max_keys` items, a key or a common prefix each. A common prefix
//! stands for every name under it: the next store page starts after all of them
//! (`skip_past`), so a page that is all common prefixes still makes progress, and the
//! continuation token (base64 of that resume point) never repeats one. `IsTruncated` is set
//! only when an item beyond the page was actually seen.

use base64::Engine as _;
use engine::store::{ListEntry, ListQuery, LIST_PAGE_SIZE_MAX};

use super::error::{self, S3Error};
use super::time;
use super::xml::{url_encode, Xml};
use super::{etag_quoted_of_entry, Req};
use crate::http::Conn;

/// S3's default and maximum `max-keys`.
pub const MAX_KEYS_DEFAULT: usize = 1000;

/// The smallest string greater than every name that starts with `p` (names are UTF-8, no name
/// has U+10FFFF twice after a common prefix in practice; see `skip_past`).
pub fn skip_past(p: &str) -> String {
    let mut s = String::with_capacity(p.len() + 8);
    s.push_str(p);
    // Two of the largest scalar value: greater than any name continuing `p` with a character
    // below U+10FFFF, and than `p` + U+10FFFF + anything below it.
    s.push('\u{10FFFF}');
    s.push('\u{10FFFF}');
    s
}

/// One item of an S3 listing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<E> {
    Key(E),
    Prefix(String),
}

/// Builds one S3 page from store pages.
#[derive(Debug)]
pub struct Paging<E> {
    prefix: String,
    delimiter: String,
    max_keys: usize,
    /// Store pages begin strictly after this name.
    after: String,
    pub items: Vec<Item<E>>,
    pub truncated: bool,
    done: bool,
}

impl<E> Paging<E> {
    /// A page of names that start with `prefix`, strictly after `after`.
    pub fn new(prefix: &str, delimiter: &str, after: String, max_keys: usize) -> Paging<E> {
        Paging {
            prefix: prefix.to_string(),
            delimiter: delimiter.to_string(),
            max_keys,
            after,
            items: Vec::new(),
            truncated: false,
            done: max_keys == 0,
        }
    }

    /// The resume point a client's `marker`/`start-after` means: after a name that falls in a
    /// common prefix, after the whole prefix (it was listed as that prefix).
    pub fn after_marker(prefix: &str, delimiter: &str, marker: &str) -> String {
        if let Some(cp) = common_prefix(prefix, delimiter, marker) {
            return skip_past(&cp);
        }
        marker.to_string()
    }

    /// Where the next store page starts (strictly after).
    pub fn after(&self) -> &str {
        &self.after
    }

    /// The page is complete.
    pub fn done(&self) -> bool {
        self.done
    }

    /// How many names to ask the store for next.
    pub fn want(&self) -> usize {
        (self.max_keys - self.items.len() + 1).clamp(MAX_KEYS_DEFAULT, LIST_PAGE_SIZE_MAX)
    }

    /// Takes one store page: `entries` sorted by name, all after `self.after()`; `more` says
    /// whether the store may have names after the last one (a full page).
    pub fn feed(&mut self, entries: Vec<E>, name: impl Fn(&E) -> &str, more: bool) {
        for e in entries {
            if self.done {
                return;
            }
            let n = name(&e);
            if n <= self.after.as_str() || !n.starts_with(&self.prefix) {
                continue; // under a common prefix already listed
            }
            if self.items.len() == self.max_keys {
                // One more item exists: the page is full and truncated.
                self.truncated = true;
                self.done = true;
                return;
            }
            match common_prefix(&self.prefix, &self.delimiter, n) {
                Some(cp) => {
                    self.after = skip_past(&cp);
                    self.items.push(Item::Prefix(cp));
                }
                None => {
                    self.after = n.to_string();
                    self.items.push(Item::Key(e));
                }
            }
        }
        if !more {
            self.done = true;
        }
    }

    /// The continuation token of a truncated page (base64 of the resume point).
    pub fn next_token(&self) -> Option<String> {
        self.truncated
            .then(|| base64::engine::general_purpose::STANDARD.encode(self.after.as_bytes()))
    }
}

/// The common prefix `name` falls in: the prefix plus the rest up to and including the first
/// delimiter after it.
pub fn common_prefix(prefix: &str, delimiter: &str, name: &str) -> Option<String> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = name.strip_prefix(prefix)?;
    let i = rest.find(delimiter)?;
    Some(format!("{prefix}{}", &rest[..i + delimiter.len()]))
}

/// Decodes a continuation token into a resume point.
pub fn decode_token(t: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    String::from_utf8(raw).ok()
}

/// `GET /s3/<bucket>` (V1) or `?list-type=2` (V2).
pub async fn list_objects(conn: &mut Conn, req: &Req<'_>, bucket: &str, v2: bool) -> bool {
    let head = req.head;
    let q = |k: &str| req.q(k).map(|v| v.into_owned());
    let prefix = q("prefix").unwrap_or_default();
    let delimiter = q("delimiter").unwrap_or_default();
    let url = match q("encoding-type").as_deref() {
        None | Some("") => false,
        Some("url") => true,
        Some(o) => {
            let e = S3Error::invalid_argument(format!(
                "Invalid Encoding Method specified in Request: {o:?}"
            ));
            return error::send(conn, head, &e).await;
        }
    };
    let max_keys = match q("max-keys") {
        None => MAX_KEYS_DEFAULT,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => (n as usize).min(MAX_KEYS_DEFAULT),
            _ => {
                let e = S3Error::invalid_argument(format!(
                    "max-keys {s:?}: provide a non-negative integer"
                ));
                return error::send(conn, head, &e).await;
            }
        },
    };
    let token = q("continuation-token");
    let start_after = q("start-after").unwrap_or_default();
    let marker = q("marker").unwrap_or_default();
    let mut after = if v2 {
        Paging::<ListEntry>::after_marker(&prefix, &delimiter, &start_after)
    } else {
        Paging::<ListEntry>::after_marker(&prefix, &delimiter, &marker)
    };
    if let Some(t) = token.as_deref().filter(|_| v2) {
        match decode_token(t) {
            Some(a) => after = after.max(a),
            None => {
                let e = S3Error::invalid_argument("The continuation token provided is incorrect");
                return error::send(conn, head, &e).await;
            }
        }
    }
    let mut paging: Paging<ListEntry> = Paging::new(&prefix, &delimiter, after, max_keys);
    let store = conn.core.store.clone();
    while !paging.done() {
        let lq = ListQuery {
            prefix: prefix.clone(),
            after: paging.after().to_string(),
            page_size: paging.want(),
            with_lom: true,
            name_only: false,
            no_recursion: false,
        };
        match store.list_objects(bucket, lq).await {
            Ok(page) => {
                let more = !page.continuation_token.is_empty();
                paging.feed(page.entries, |e| e.name.as_str(), more);
            }
            Err(e) => return error::send(conn, head, &S3Error::of_store(&e)).await,
        }
    }
    let page = ListPage {
        bucket,
        prefix: &prefix,
        delimiter: &delimiter,
        url,
        max_keys,
        v2,
        token: token.as_deref(),
        start_after: &start_after,
        marker: &marker,
    };
    super::ok_xml(conn, head, listing_xml(&page, &paging)).await
}

/// What a ListObjects reply echoes of its request.
pub struct ListPage<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: &'a str,
    /// `encoding-type=url`.
    pub url: bool,
    pub max_keys: usize,
    /// V2 (`list-type=2`), else V1.
    pub v2: bool,
    pub token: Option<&'a str>,
    pub start_after: &'a str,
    pub marker: &'a str,
}

/// The `ListBucketResult` document of one page (every key, prefix and marker escaped, or
/// URL-encoded with `encoding-type=url`).
pub fn listing_xml(q: &ListPage<'_>, paging: &Paging<ListEntry>) -> String {
    let ListPage {
        bucket,
        prefix,
        delimiter,
        url,
        max_keys,
        v2,
        token,
        start_after,
        marker,
    } = *q;
    let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
    let mut x = Xml::new();
    x.root("ListBucketResult")
        .elem("Name", bucket)
        .elem("Prefix", &enc(prefix));
    if v2 {
        if let Some(t) = token {
            x.elem("ContinuationToken", t);
        }
        if let Some(t) = paging.next_token() {
            x.elem("NextContinuationToken", &t);
        }
        x.elem("KeyCount", &paging.items.len().to_string());
        if !start_after.is_empty() {
            x.elem("StartAfter", &enc(start_after));
        }
    } else {
        x.elem("Marker", &enc(marker));
        if paging.truncated && !delimiter.is_empty() {
            // S3 returns NextMarker only with a delimiter; clients otherwise use the last key.
            let last = match paging.items.last() {
                Some(Item::Key(e)) => e.name.clone(),
                Some(Item::Prefix(p)) => p.clone(),
                None => String::new(),
            };
            x.elem("NextMarker", &enc(&last));
        }
    }
    x.elem("MaxKeys", &max_keys.to_string());
    if !delimiter.is_empty() {
        x.elem("Delimiter", &enc(delimiter));
    }
    if url {
        x.elem("EncodingType", "url");
    }
    x.elem(
        "IsTruncated",
        if paging.truncated { "true" } else { "false" },
    );
    for it in &paging.items {
        if let Item::Key(e) = it {
            x.open("Contents")
                .elem("Key", &enc(&e.name))
                .elem("LastModified", &time::iso8601(entry_mtime(e)))
                .elem("ETag", &etag_quoted_of_entry(e))
                .elem("Size", &e.size.to_string())
                .elem("StorageClass", "STANDARD")
                .close("Contents");
        }
    }
    for it in &paging.items {
        if let Item::Prefix(p) = it {
            x.open("CommonPrefixes")
                .elem("Prefix", &enc(p))
                .close("CommonPrefixes");
        }
    }
    x.close("ListBucketResult");
    x.finish()
}

/// The modification time a listing shows.
fn entry_mtime(e: &ListEntry) -> i64 {
    e.mtime_ns.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a listing over `names` (sorted) with store pages of `store_page` names.
    fn run(
        names: &[&str],
        prefix: &str,
        delim: &str,
        after: String,
        max: usize,
        store_page: usize,
    ) -> Paging<String> {
        let mut p: Paging<String> = Paging::new(prefix, delim, after, max);
        let mut calls = 0;
        while !p.done() {
            calls += 1;
            assert!(calls < 10_000, "no progress");
            let page: Vec<String> = names
                .iter()
                .filter(|n| n.starts_with(prefix) && **n > p.after())
                .take(store_page)
                .map(|s| s.to_string())
                .collect();
            let more = page.len() == store_page;
            p.feed(page, |s| s.as_str(), more);
        }
        p
    }

    fn flat(p: &Paging<String>) -> Vec<String> {
        p.items
            .iter()
            .map(|i| match i {
                Item::Key(k) => k.clone(),
                Item::Prefix(c) => format!("P:{c}"),
            })
            .collect()
    }

    /// Every item of a full listing, page by page through the continuation token.
    fn all_pages(names: &[&str], prefix: &str, delim: &str, max: usize, sp: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let p = run(names, prefix, delim, after.clone(), max, sp);
            assert!(p.items.len() <= max);
            out.extend(flat(&p));
            match p.next_token() {
                Some(t) => {
                    assert_eq!(p.items.len(), max, "a truncated page is full");
                    after = decode_token(&t).unwrap();
                }
                None => return out,
            }
        }
    }

    #[test]
    fn delimiter_groups_and_pages() {
        // Goal: common prefixes are listed once, in name order with keys, across pages of any
        // size and with store pages smaller than the S3 page.
        let names = [
            "a/1", "a/2", "a/3", "b", "c/x/1", "c/y", "d", "e/1", "e/2", "f",
        ];
        let want = ["P:a/", "b", "P:c/", "d", "P:e/", "f"];
        for max in 1..=7 {
            for sp in 1..=4 {
                assert_eq!(
                    all_pages(&names, "", "/", max, sp),
                    want,
                    "max {max} sp {sp}"
                );
            }
        }
    }

    #[test]
    fn all_prefix_pages_make_progress() {
        // Goal: pages made only of common prefixes (many keys under each) still advance and
        // end; IsTruncated is false on the last page even when it is exactly full.
        let mut names: Vec<String> = Vec::new();
        for d in 0..5 {
            for k in 0..50 {
                names.push(format!("d{d}/k{k:03}"));
            }
        }
        names.sort();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let got = all_pages(&refs, "", "/", 5, 7);
        assert_eq!(got, ["P:d0/", "P:d1/", "P:d2/", "P:d3/", "P:d4/"]);
        let p = run(&refs, "", "/", String::new(), 5, 7);
        assert!(!p.truncated, "exactly full last page is not truncated");
        let p = run(&refs, "", "/", String::new(), 4, 7);
        assert!(p.truncated);
    }

    #[test]
    fn prefix_and_nested_delimiter() {
        // Goal: prefix narrows; the common prefix includes the prefix; a key equal to a
        // folder name with '/' (a marker) folds into its prefix.
        let names = ["p/", "p/a", "p/b/1", "p/b/2", "p/c", "q"];
        assert_eq!(
            all_pages(&names, "p/", "/", 10, 2),
            ["p/", "p/a", "P:p/b/", "p/c"]
        );
        assert_eq!(all_pages(&names, "", "/", 10, 2), ["P:p/", "q"]);
        assert_eq!(all_pages(&names, "p/b", "", 1, 1), ["p/b/1", "p/b/2"]);
    }

    #[test]
    fn large_flat_listing_counts() {
        // Goal: 2,500 keys in pages of 1000: 1000 + 1000 + 500, truncated twice.
        let names: Vec<String> = (0..2500).map(|i| format!("k{i:05}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut after = String::new();
        let mut sizes = Vec::new();
        loop {
            let p = run(&refs, "", "", after.clone(), 1000, 1001);
            sizes.push((p.items.len(), p.truncated));
            match p.next_token() {
                Some(t) => after = decode_token(&t).unwrap(),
                None => break,
            }
        }
        assert_eq!(sizes, [(1000, true), (1000, true), (500, false)]);
    }

    #[test]
    fn marker_inside_a_prefix_skips_it() {
        // Goal: V1's marker (a client's last common prefix) does not repeat that prefix.
        let a = Paging::<String>::after_marker("", "/", "a/");
        let names = ["a/1", "a/2", "b"];
        assert_eq!(flat(&run(&names, "", "/", a, 10, 10)), ["b"]);
        assert_eq!(Paging::<String>::after_marker("", "", "a/"), "a/");
    }

    #[test]
    fn max_keys_zero() {
        // Goal: max-keys=0 lists nothing and is not truncated.
        let p = run(&["a"], "", "", String::new(), 0, 10);
        assert!(p.items.is_empty() && !p.truncated);
    }
}
