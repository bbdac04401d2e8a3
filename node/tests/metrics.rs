//! `/metrics` trusts no request input: requests naming missing or invalid buckets add no
//! series, and every label value is escaped per the Prometheus text format (checked by a strict
//! parser of that format, below).

mod common;

use std::collections::BTreeSet;
use std::io::Write;

use common::{connect, read_response, Node};

/// One sample of the exposition: metric name, labels in order, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Parses a metric or label name at the front of `s`; returns it and the rest.
fn parse_name(s: &str, label: bool) -> Result<(&str, &str), String> {
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let ok = if i == 0 {
            is_name_start(c) && !(label && c == ':')
        } else {
            is_name_char(c) && !(label && c == ':')
        };
        if !ok {
            break;
        }
        end = i + c.len_utf8();
    }
    if end == 0 {
        return Err(format!("expected a name at {s:?}"));
    }
    Ok((&s[..end], &s[end..]))
}

/// Parses a quoted label value (after the opening quote); only `\\`, `\"` and `\n` escapes are
/// allowed, as the text format says. Returns the value and the rest after the closing quote.
fn parse_label_value(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match it.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                other => return Err(format!("invalid escape {other:?} in {s:?}")),
            },
            '\n' => return Err("raw newline in a label value".into()),
            c => out.push(c),
        }
    }
    Err(format!("unterminated label value {s:?}"))
}

/// A strict parser of the Prometheus text exposition format (version 0.0.4): `# TYPE`/`# HELP`
/// lines, samples `name{l="v",...} value`, each family's samples contiguous and after its
/// TYPE line, no duplicate series. Errors name the offending line.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("exposition does not end with a newline".into());
    }
    let mut out = Vec::new();
    let mut typed: BTreeSet<String> = BTreeSet::new();
    let mut done_families: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series: BTreeSet<String> = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if let Some(t) = rest.strip_prefix("TYPE ") {
                let mut parts = t.split(' ');
                let name = parts
                    .next()
                    .ok_or_else(|| err("TYPE without name".into()))?;
                let (nm, tail) = parse_name(name, false).map_err(err)?;
                if !tail.is_empty() {
                    return Err(err("bad metric name in TYPE".into()));
                }
                let kind = parts
                    .next()
                    .ok_or_else(|| err("TYPE without type".into()))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                    || parts.next().is_some()
                {
                    return Err(err("bad TYPE line".into()));
                }
                if !typed.insert(nm.to_string()) || done_families.contains(nm) {
                    return Err(err("second TYPE line for a family".into()));
                }
                if let Some(c) = current.take() {
                    done_families.insert(c);
                }
                current = Some(nm.to_string());
            }
            continue;
        }
        let (name, mut rest) = parse_name(line, false).map_err(err)?;
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let (ln, r) = parse_name(rest, true).map_err(err)?;
                let r = r
                    .strip_prefix("=\"")
                    .ok_or_else(|| err(format!("expected =\" after label {ln}")))?;
                let (v, r) = parse_label_value(r).map_err(err)?;
                if labels.iter().any(|(k, _): &(String, String)| k == ln) {
                    return Err(err(format!("label {ln} twice")));
                }
                labels.push((ln.to_string(), v));
                rest = match r.strip_prefix(',') {
                    Some(r) => r,
                    None if r.starts_with('}') => r,
                    None => return Err(err("expected , or } after a label".into())),
                };
            }
        }
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("expected a space before the value".into()))?;
        let mut fields = rest.split(' ');
        let value: f64 = fields
            .next()
            .unwrap_or("")
            .parse()
            .map_err(|e| err(format!("bad value: {e}")))?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|e| err(format!("bad timestamp: {e}")))?;
        }
        if fields.next().is_some() {
            return Err(err("trailing fields".into()));
        }
        if current.as_deref() != Some(name) {
            return Err(err(format!(
                "sample of {name} outside its family's group (TYPE line missing or family split)"
            )));
        }
        let key = format!("{name}{labels:?}");
        if !series.insert(key) {
            return Err(err("duplicate series".into()));
        }
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// The series (name and labels, not values) of an exposition.
fn series_set(text: &str) -> BTreeSet<String> {
    parse_exposition(text)
        .unwrap_or_else(|e| panic!("exposition does not parse: {e}"))
        .into_iter()
        .map(|s| format!("{}{:?}", s.name, s.labels))
        .collect()
}

fn scrape(node: &Node) -> String {
    let r = node.req("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[test]
fn strict_parser_rejects_what_it_must() {
    // Goal: the parser used below is strict: unescaped quotes, bad escapes, split families and
    // injected lines are errors (so a passing parse means a well-formed exposition).
    let ok = "# TYPE a counter\na{x=\"q\\\"\\\\\\n\"} 1\na{x=\"y\"} 2\n";
    let s = parse_exposition(ok).unwrap();
    assert_eq!(s[0].labels[0].1, "q\"\\\n");
    for bad in [
        "# TYPE a counter\na{x=\"q\"\"} 1\n",
        "# TYPE a counter\na{x=\"q\\t\"} 1\n",
        "# TYPE a counter\na{x=\"q\n\"} 1\n",
        "# TYPE a counter\na{x=\"1\"} 1\n# TYPE b counter\nb 1\na{x=\"2\"} 1\n",
        "# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
        "a 1\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

/// Bucket names for the load: missing-but-valid ones (404) and invalid ones carrying the
/// exposition's special bytes, percent-encoded (400).
fn crafted_bucket(i: u64, x: &mut u64) -> String {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    let r = *x;
    match i % 4 {
        0 => format!("missing-{r:x}"),
        1 => format!("inj%22%7D%201%0Aevil_{r:x}%7Bx%3D%22"),
        2 => format!("back%5Cslash-{r:x}"),
        _ => format!("nl%0A{r:x}"),
    }
}

#[test]
fn missing_and_invalid_buckets_add_no_series() {
    // Goal: 100,000 requests naming random missing or invalid buckets (answered 404/400) leave
    // the exposition with exactly the series it had (values aside), and it still parses; an
    // existing bucket keeps its series. Today each name became a permanent label set.
    let node = Node::start(2);
    node.create_bucket("real");
    assert_eq!(node.put("real", "o", b"data").status, 200);
    assert_eq!(node.get("real", "o").status, 200);
    assert_eq!(node.get("real", "missing-object").status, 404);
    let before = scrape(&node);
    let set_before = series_set(&before);
    assert!(
        set_before.iter().any(|s| s.contains("ais://real")),
        "the existing bucket has series: {before}"
    );
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 25_000;
    let port = node.port;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut s = connect(port);
                let mut buf = Vec::new();
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                let mut statuses = [0u64; 2];
                // Batches of pipelined requests on one keep-alive connection (bounded).
                const BATCH: u64 = 100;
                let mut i = 0;
                while i < PER_THREAD {
                    let mut out = Vec::new();
                    let mut methods = Vec::new();
                    for _ in 0..BATCH {
                        let b = crafted_bucket(i, &mut x);
                        let (m, path) = match i % 3 {
                            0 => ("HEAD", format!("/v1/objects/{b}/o")),
                            1 => ("GET", format!("/v1/objects/{b}/o")),
                            _ => ("GET", format!("/v1/buckets/{b}")),
                        };
                        write!(out, "{m} {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                        methods.push(m);
                        i += 1;
                    }
                    s.write_all(&out).unwrap();
                    for m in methods {
                        let r = read_response(&mut s, &mut buf, m == "HEAD").unwrap();
                        match r.status {
                            404 => statuses[0] += 1,
                            400 => statuses[1] += 1,
                            st => panic!("unexpected status {st} for {m}: {}", r.text()),
                        }
                    }
                }
                statuses
            })
        })
        .collect();
    let mut total = [0u64; 2];
    for w in workers {
        let s = w.join().unwrap();
        total[0] += s[0];
        total[1] += s[1];
    }
    assert_eq!(total[0] + total[1], THREADS * PER_THREAD);
    assert!(
        total[0] > 0 && total[1] > 0,
        "both 404s and 400s: {total:?}"
    );
    let after = scrape(&node);
    let set_after = series_set(&after);
    let added: Vec<_> = set_after.difference(&set_before).take(5).collect();
    let lost: Vec<_> = set_before.difference(&set_after).take(5).collect();
    assert!(
        added.is_empty() && lost.is_empty(),
        "series added {added:?}, lost {lost:?} (exposition {} -> {} bytes)",
        before.len(),
        after.len()
    );
    assert_eq!(before.lines().count(), after.lines().count());
    // The requests still count in the node totals.
    let errs = |t: &str| -> f64 {
        parse_exposition(t)
            .unwrap()
            .iter()
            .filter(|s| s.name == "ais_target_err_head_count" && s.labels.len() == 1)
            .map(|s| s.value)
            .sum()
    };
    assert!(errs(&after) >= errs(&before) + (THREADS * PER_THREAD / 3) as f64 - 1.0);
}

#[test]
fn destroyed_bucket_series_go_away() {
    // Goal: a destroyed bucket's series leave the exposition (and a new bucket of the same
    // name starts from zero), so create/destroy cycles cannot grow it without bound.
    let node = Node::start(1);
    for round in 0..3 {
        node.create_bucket("cyc");
        assert_eq!(node.put("cyc", "o", b"x").status, 200);
        let t = scrape(&node);
        let puts: Vec<f64> = parse_exposition(&t)
            .unwrap()
            .into_iter()
            .filter(|s| {
                s.name == "ais_target_put_count"
                    && s.labels
                        .iter()
                        .any(|(k, v)| k == "bucket" && v == "ais://cyc")
            })
            .map(|s| s.value)
            .collect();
        assert_eq!(puts, vec![1.0], "round {round}: {t}");
        let r = node.req(
            "DELETE",
            "/v1/buckets/cyc",
            &[],
            br#"{"action":"destroy-bck"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let t = scrape(&node);
        assert!(!t.contains("ais://cyc"), "round {round}: {t}");
    }
}

#[test]
fn label_values_are_escaped() {
    // Goal: a mountpath whose directory name holds `"`, `\` and a newline, and requests naming
    // buckets with those bytes, leave an exposition that a strict parser accepts, with the
    // mountpath label equal to the real path (the escapes round-trip).
    let dir = common::tempdir("metrics-esc");
    let mp = dir.join("mp\"q\\b\nx");
    std::fs::create_dir_all(&mp).unwrap();
    let node = Node::start_on(dir.clone(), vec![mp.clone()], common::free_port());
    node.create_bucket("b1");
    assert_eq!(node.put("b1", "o", b"data").status, 200);
    for b in ["a%22%7D%201%0Ab", "c%5Cd", "e%0Af"] {
        let r = node.req("GET", &format!("/v1/objects/{b}/o"), &[], b"");
        assert_eq!(r.status, 400, "{}", r.text());
    }
    let text = scrape(&node);
    let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let real = std::fs::canonicalize(&mp)
        .unwrap()
        .to_string_lossy()
        .to_string();
    let mps: BTreeSet<&str> = samples
        .iter()
        .flat_map(|s| s.labels.iter())
        .filter(|(k, _)| k == "mountpath")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(mps, BTreeSet::from([real.as_str()]), "{text}");
    let buckets: BTreeSet<&str> = samples
        .iter()
        .flat_map(|s| s.labels.iter())
        .filter(|(k, _)| k == "bucket")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(buckets, BTreeSet::from(["ais://b1"]), "{text}");
    let put = samples
        .iter()
        .find(|s| s.name == "aisle_mountpath_put_count" && s.labels.iter().any(|(_, v)| *v == real))
        .expect("mountpath put series");
    assert_eq!(put.value, 1.0);
}
