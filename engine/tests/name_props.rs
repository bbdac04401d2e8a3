//! Property tests of what turns client input into paths and metadata: bucket and object
//! names (validation never panics; a name it accepts maps to a file strictly inside its
//! bucket's object directory, with no `..`, absolute or empty component, and every
//! component a legal file name), and LOM decoding (arbitrary bytes never panic; an encoded
//! LOM decodes to itself).

use std::path::{Component, Path};

use engine::fqn::{obj_dir, object_fqn, FILE_NAME_BYTES_MAX};
use engine::lom::Lom;
use engine::names::{validate_bucket, validate_object};
use proptest::prelude::*;

/// Object names built from pieces that stress the path rules: traversal, separators,
/// percent-encodings (kept literal: decoding happens before validation, in the HTTP layer),
/// control bytes, NUL, non-ASCII, very long components.
fn hostile_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("/".to_string()),
        Just("//".to_string()),
        Just("\\".to_string()),
        Just("%2e%2e".to_string()),
        Just("%2f".to_string()),
        Just("\0".to_string()),
        Just("~/".to_string()),
        Just("\u{7f}".to_string()),
        Just("é".to_string()),
        "[a-z0-9._-]{1,8}",
        "[a-z]{200,300}",
        "\\PC{1,4}",
        "[\\x00-\\x1f]",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn accepted_object_names_stay_inside_the_bucket(name in hostile_name()) {
        let mp = Path::new("/mnt/mp1");
        if validate_object(&name).is_ok() {
            let p = object_fqn(mp, "bck", &name);
            let base = obj_dir(mp, "bck");
            let rel = p.strip_prefix(&base).expect("the object's path is under its bucket");
            prop_assert!(rel.components().count() >= 1);
            for c in rel.components() {
                match c {
                    Component::Normal(s) => {
                        prop_assert!(!s.is_empty());
                        prop_assert!(s.len() <= FILE_NAME_BYTES_MAX, "{} bytes", s.len());
                        prop_assert!(!s.as_encoded_bytes().contains(&0));
                    }
                    other => prop_assert!(false, "component {other:?} in {p:?}"),
                }
            }
            prop_assert!(!name.contains('\0'));
            prop_assert!(!name.split('/').any(|c| c == ".." || c == "." || c.is_empty()));
        }
    }

    #[test]
    fn bucket_names_never_panic_and_accepted_ones_are_one_component(name in hostile_name()) {
        if validate_bucket(&name).is_ok() {
            prop_assert!(!name.contains('/') && name != "." && name != ".." && !name.is_empty());
        }
    }

    #[test]
    fn lom_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Lom::decode(&bytes);
    }

    #[test]
    fn lom_decode_of_damaged_lom_never_panics(
        seed_size in 0i64..1 << 40,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let lom = Lom { size: seed_size, ..Lom::default() };
        let Ok(good) = lom.encode() else { return Ok(()); };
        prop_assert_eq!(Lom::decode(&good).expect("an encoded LOM decodes").size, seed_size);
        let mut bad = good.clone();
        for (at, x) in &flips {
            let i = at.index(bad.len());
            bad[i] ^= x;
        }
        // A flipped byte is caught by the LOM's own checksum (or the format), never a panic.
        // (Flips of one byte by the same value cancel out: that LOM is not damaged.)
        let refused = Lom::decode(&bad).is_err();
        prop_assert!(refused || bad == good, "a damaged LOM decoded");
        let _ = Lom::decode(&good[..cut.index(good.len())]);
    }
}
