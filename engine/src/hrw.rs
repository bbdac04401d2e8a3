//! HRW (highest random weight, a.k.a. rendezvous) placement, bit-compatible with AIStore.
//!
//! Owns the digests that decide where an object lives: the object digest (XXH64 of the
//! object's uname, seeded with `MLCG32`), the mountpath digest, the xoshiro256-style weight
//! scrambler, and the winner selection. The same object digest ranks both nodes (by node-id
//! digest) and mountpaths (by path digest), exactly as AIS does (AISTORE.md §2), so a client
//! that computes AIS placement computes ours.

use xxhash_rust::xxh64::xxh64;

/// Seed of every placement digest (`cos.MLCG32` in AIS).
pub const MLCG32: u64 = 1103515245;

/// The golden-ratio increment of splitmix64.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
const MIX_MUL_1: u64 = 0xbf58_476d_1ce4_e5b9;
const MIX_MUL_2: u64 = 0x94d0_49bb_1331_11eb;

/// XXH64 of `data` with the placement seed `MLCG32`.
pub fn digest(data: &[u8]) -> u64 {
    xxh64(data, MLCG32)
}

/// AIS's `xoshiro256.Hash`: two splitmix64 finaliser rounds and the xoshiro256** output
/// scrambler (`rotl(z * 5, 7) * 9`). It turns `node_or_path_digest ^ object_digest` into a
/// weight whose bits are all well mixed, which plain XOR is not.
pub fn xoshiro_hash(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(MIX_MUL_1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX_MUL_2);
    z ^= z >> 31;
    z = z.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(MIX_MUL_1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX_MUL_2);
    z ^= z >> 31;
    z.wrapping_mul(5).rotate_left(7).wrapping_mul(9)
}

/// The uname of an object in an `ais://` bucket of the global namespace:
/// `ais/@#/<bucket>/<obj>` (AIS `Bck.MakeUname`).
pub fn obj_uname(bucket: &str, obj: &str) -> String {
    let mut uname = String::with_capacity(7 + bucket.len() + 1 + obj.len());
    uname.push_str("ais/@#/");
    uname.push_str(bucket);
    uname.push('/');
    uname.push_str(obj);
    uname
}

/// The object digest `d`: XXH64 of the uname. It ranks both nodes and mountpaths.
/// Computed without allocating (this runs on every request).
pub fn obj_digest(bucket: &str, obj: &str) -> u64 {
    const PREFIX: &[u8] = b"ais/@#/";
    let len = PREFIX.len() + bucket.len() + 1 + obj.len();
    let mut stack = [0u8; 512];
    if len <= stack.len() {
        let (a, rest) = stack.split_at_mut(PREFIX.len());
        a.copy_from_slice(PREFIX);
        rest[..bucket.len()].copy_from_slice(bucket.as_bytes());
        rest[bucket.len()] = b'/';
        rest[bucket.len() + 1..bucket.len() + 1 + obj.len()].copy_from_slice(obj.as_bytes());
        return digest(&stack[..len]);
    }
    let mut h = xxhash_rust::xxh64::Xxh64::new(MLCG32);
    h.update(PREFIX);
    h.update(bucket.as_bytes());
    h.update(b"/");
    h.update(obj.as_bytes());
    h.digest()
}

/// The mountpath digest: XXH64 of the *clean* mountpath string (as Go's `filepath.Clean`
/// would print it), so `/ais/mp1/` and `/ais//mp1` rank like `/ais/mp1`.
pub fn path_digest(mountpath: &str) -> u64 {
    digest(clean_path(mountpath).as_bytes())
}

/// The weight of one candidate (node or mountpath) for one object.
pub fn weight(obj_digest: u64, path_digest: u64) -> u64 {
    xoshiro_hash(path_digest ^ obj_digest)
}

/// The index of the candidate with the highest weight, or `None` when there is none.
/// On a tie the later index wins, as in AIS (which compares with `>=`).
pub fn select(obj_digest: u64, path_digests: &[u64]) -> Option<usize> {
    select_by(obj_digest, path_digests.iter().copied().enumerate())
}

/// The winner among `candidates` (each with its node or path digest), or `None` when there is
/// none; on a tie the later candidate wins. This is the one HRW selection: `select` (tested
/// against AIS's vectors) and the store's object placement both go through it.
pub fn select_by<T>(obj_digest: u64, candidates: impl IntoIterator<Item = (T, u64)>) -> Option<T> {
    let mut best: Option<(T, u64)> = None;
    for (c, pd) in candidates {
        let w = weight(obj_digest, pd);
        match &best {
            Some((_, best_w)) if w < *best_w => {}
            _ => best = Some((c, w)),
        }
    }
    best.map(|(c, _)| c)
}

/// The HRW key of chunk `chunk_num` (2..N) of a chunked upload: the upload id followed by
/// the chunk number, zero-padded to 4 digits (numbers >= 10000 print in full).
pub fn chunk_key(upload_id: &str, chunk_num: u16) -> String {
    format!("{upload_id}{chunk_num:04}")
}

/// Lexical path cleaning with Go `filepath.Clean` semantics (Unix): collapse repeated
/// slashes, drop `.` components, resolve `..` against the preceding component, drop the
/// trailing slash. Only the string changes; the filesystem is not consulted.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `/..` is `/`; a relative path keeps its leading `..`.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(comp),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn obj_digest_matches_uname_digest_for_short_and_long_names() {
        // Goal: the allocation-free digest equals XXH64 of the uname on both of its paths
        // (stack copy up to 512 bytes, streaming beyond).
        for len in [1usize, 10, 490, 498, 499, 500, 600, 5000] {
            let obj: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            assert_eq!(
                obj_digest("bkt", &obj),
                digest(obj_uname("bkt", &obj).as_bytes()),
                "len {len}"
            );
        }
    }

    use super::*;
    use std::collections::HashMap;

    /// Goal: the xxhash crate is standard XXH64. Steps: the published vectors for seed 0.
    #[test]
    fn xxh64_standard_vectors() {
        assert_eq!(xxh64(b"", 0), 0xEF46DB3751D8E999);
        assert_eq!(xxh64(b"abc", 0), 0x44BC2CF5AD770999);
    }

    /// Goal: the scrambler matches AIS `xoshiro256_test.go`.
    #[test]
    fn xoshiro_vectors() {
        assert_eq!(xoshiro_hash(0), 1905207664160064169);
        assert_eq!(xoshiro_hash(4573842), 5026071747115404967);
    }

    /// Goal: the object digest matches the AISTORE.md §2 vector.
    #[test]
    fn object_digest_vector() {
        assert_eq!(
            obj_uname("mybucket", "path/to/obj.bin"),
            "ais/@#/mybucket/path/to/obj.bin"
        );
        assert_eq!(
            digest(b"ais/@#/mybucket/path/to/obj.bin"),
            15490523694040364005
        );
        assert_eq!(
            obj_digest("mybucket", "path/to/obj.bin"),
            0xd6f9653a380c33e5
        );
    }

    /// Goal: the mountpath winner and its weight match §2. Steps: rank /ais/mp1..4.
    #[test]
    fn mountpath_winner_vector() {
        let d = obj_digest("mybucket", "path/to/obj.bin");
        let mps = ["/ais/mp1", "/ais/mp2", "/ais/mp3", "/ais/mp4"];
        let pds: Vec<u64> = mps.iter().map(|m| path_digest(m)).collect();
        let win = select(d, &pds).expect("four candidates");
        assert_eq!(mps[win], "/ais/mp1");
        assert_eq!(weight(d, pds[win]), 18013774542154166741);
    }

    /// Goal: the node winner and its weight match §2. Steps: rank three node ids.
    #[test]
    fn node_winner_vector() {
        let d = obj_digest("mybucket", "path/to/obj.bin");
        let ids = ["t1Abcd8081", "t2Efgh8082", "t3Ijkl8083"];
        let nds: Vec<u64> = ids.iter().map(|id| digest(id.as_bytes())).collect();
        let win = select(d, &nds).expect("three candidates");
        assert_eq!(ids[win], "t3Ijkl8083");
        assert_eq!(weight(d, nds[win]), 15643143944190545234);
    }

    /// Goal: empty candidate list, ties and determinism.
    #[test]
    fn select_edge_cases() {
        assert_eq!(select(42, &[]), None);
        assert_eq!(select(42, &[7]), Some(0));
        // Equal digests give equal weights; the later index wins.
        assert_eq!(select(42, &[7, 7, 7]), Some(2));
        let pds = [path_digest("/a"), path_digest("/b"), path_digest("/c")];
        for i in 0..100u32 {
            let d = obj_digest("b", &format!("o{i}"));
            assert_eq!(select(d, &pds), select(d, &pds));
        }
    }

    /// Goal: mountpath strings are cleaned before hashing, like Go `filepath.Clean`.
    #[test]
    fn clean_path_cases() {
        let cases = [
            ("", "."),
            ("/", "/"),
            ("//", "/"),
            ("/ais/mp1/", "/ais/mp1"),
            ("/ais//mp1", "/ais/mp1"),
            ("/ais/./mp1", "/ais/mp1"),
            ("/ais/x/../mp1", "/ais/mp1"),
            ("/../ais", "/ais"),
            ("a/../..", ".."),
            ("../a", "../a"),
            ("./", "."),
        ];
        for (input, want) in cases {
            assert_eq!(clean_path(input), want, "input {input:?}");
        }
        assert_eq!(path_digest("/ais/mp1/"), path_digest("/ais/mp1"));
    }

    #[test]
    fn chunk_keys() {
        assert_eq!(chunk_key("u1", 2), "u10002");
        assert_eq!(chunk_key("abc", 9999), "abc9999");
        assert_eq!(chunk_key("abc", 10000), "abc10000");
    }

    fn names(n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| obj_digest("bench", &format!("dir{}/obj-{i}.bin", i % 7)))
            .collect()
    }

    /// Goal: placement is balanced. Steps: 20,000 names over 4 paths, each within ±10%.
    #[test]
    fn balance_four_paths() {
        let pds: Vec<u64> = (1..=4)
            .map(|i| path_digest(&format!("/ais/mp{i}")))
            .collect();
        let mut counts = [0usize; 4];
        for d in names(20_000) {
            counts[select(d, &pds).expect("non-empty")] += 1;
        }
        for c in counts {
            assert!((4_500..=5_500).contains(&c), "counts {counts:?}");
        }
    }

    /// Goal: minimal movement. Steps: for every subset of up to 6 paths, adding a path moves
    /// only objects whose new winner is that path, and removing a path moves only its own.
    #[test]
    fn add_remove_moves_only_affected() {
        let all: Vec<u64> = (1..=6)
            .map(|i| path_digest(&format!("/mnt/disk{i}")))
            .collect();
        let objs = names(300);
        for mask in 1u32..(1 << all.len()) {
            let set: Vec<u64> = (0..all.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| all[i])
                .collect();
            let before: HashMap<u64, u64> = objs
                .iter()
                .map(|&d| (d, set[select(d, &set).expect("non-empty")]))
                .collect();
            // Add each path not in the set.
            for (i, &new) in all.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    continue;
                }
                let mut grown = set.clone();
                grown.push(new);
                for &d in &objs {
                    let after = grown[select(d, &grown).expect("non-empty")];
                    assert!(after == before[&d] || after == new);
                }
            }
            // Remove each path in the set.
            if set.len() < 2 {
                continue;
            }
            for gone in 0..set.len() {
                let mut shrunk = set.clone();
                shrunk.remove(gone);
                for &d in &objs {
                    let after = shrunk[select(d, &shrunk).expect("non-empty")];
                    if before[&d] != set[gone] {
                        assert_eq!(after, before[&d]);
                    }
                }
            }
        }
    }
}
