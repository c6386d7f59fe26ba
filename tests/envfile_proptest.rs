//! Property tests of the .env parser and editor, in-process and fast: 100k generated
//! files by default (`DFKIT_PROPTEST_CASES` changes it; `DFKIT_FUZZ_SEED` the seed).
//!
//! - No input makes the parser, the warnings or the editor panic: arbitrary bytes,
//!   fragment soup, and .env-shaped files with every quoting, comments, `export`,
//!   `${VAR}`, multi-line values, duplicates, bare names, CR/LF/CRLF and a BOM.
//! - Every edit keeps its invariants: after `set(key, value)` the file parses and gives
//!   `value` for `key`; every other variable keeps its value and order; every byte outside
//!   the edited definition's line is unchanged (so are comment lines), and the line stays
//!   one line; an inline comment on the edited line survives; setting the same value again
//!   changes nothing (idempotent), also after a fresh parse; a no-op edit changes no byte.
//!
//! phpdotenv itself is the oracle in tests/envfile_phpdotenv.rs; this file needs no PHP
//! and so can afford many more cases.

use dfkit::envfile::EnvFile;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn cases() -> usize {
    std::env::var("DFKIT_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn runner(salt: u64) -> TestRunner {
    let seed: u64 = std::env::var("DFKIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00df_0e4f);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&salt.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::XorShift, &bytes[..16]),
    )
}

/// Run `check` on `n` values of `strat`, over both cores. A failure names the seed's
/// thread and case, and the input, and is not shrunk (the inputs are small already).
fn for_each<S, F>(name: &str, n: usize, strat: S, check: F)
where
    S: Strategy + Clone + Send + 'static,
    S::Value: std::fmt::Debug,
    F: Fn(&S::Value) -> Result<(), String> + Send + Sync + Copy + 'static,
{
    let threads = 2u64;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let strat = strat.clone();
            let name = name.to_string();
            std::thread::spawn(move || {
                let mut r = runner(t + 1 + name.len() as u64 * 16);
                let per = n.div_ceil(threads as usize);
                for i in 0..per {
                    let v = strat.new_tree(&mut r).unwrap().current();
                    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&v)));
                    let why = match res {
                        Ok(Ok(())) => continue,
                        Ok(Err(why)) => why,
                        Err(p) => format!(
                            "panic: {}",
                            p.downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default()
                        ),
                    };
                    return Err(format!("{name}: thread {t} case {i}: {why}\ninput: {v:?}"));
                }
                Ok(per)
            })
        })
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(done >= n, "{name}: ran {done} of {n} cases");
}

// ------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------

/// Pieces of values: every byte class the lexer knows, escapes good and bad, `${…}`.
const FRAGS: &[&str] = &[
    "a", "xyz", "Q9", "\"", "'", "\\", "#", " ", "  ", "\t", "$", "${A}", "${K1}", "${NOPE}", "${",
    "}", "\\n", "\\t", "\\\"", "\\$", "\\\\", "\\q", "\u{e9}", "=", "\u{a0}", "\x0c", "\x0b", "\0",
    "\"${A}\"", "'q'", "\"multi", "line\"", "\\f", "\\v", "=\"", "export ", "\r", "\n", "null",
    "true", "ÿ", "💡",
];

fn frag_soup(max: usize) -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(prop::sample::select(FRAGS), 0..max).prop_map(|v| v.concat())
}

const NAMES: &[&str] = &[
    "A",
    "B",
    "K1",
    "K2",
    "APP_KEY",
    "DB_PASSWORD",
    "X.Y",
    "_",
    "LONG_NAME_1",
];

fn ws() -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(&["", "", "", " ", "\t", "  "][..])
}

/// A value written the way it reads back: plain, single-quoted, double-quoted (escaped).
fn written_value() -> impl Strategy<Value = String> + Clone {
    let plain = prop::collection::vec(
        prop::sample::select(&["a", "Z9", "-", ".", "/", ":", "_", "@", "+", "=", ","][..]),
        0..5,
    )
    .prop_map(|v| v.concat());
    let single = prop::collection::vec(
        prop::sample::select(&["a", " ", "#", "\"", "$", "${A}", "\\", "\u{e9}"][..]),
        0..5,
    )
    .prop_map(|v| format!("'{}'", v.concat()));
    let double = prop::collection::vec(
        prop::sample::select(
            &[
                "a", " ", "#", "'", "\\\"", "\\\\", "\\$", "\\n", "${A}", "${K1}", "\u{e9}", "\\t",
            ][..],
        ),
        0..5,
    )
    .prop_map(|v| format!("\"{}\"", v.concat()));
    prop_oneof![3 => plain, 2 => single, 2 => double]
}

/// One line (or, for a multi-line value, lines) of a .env. Inline comments carry a
/// marker, `#~N`, found nowhere else, so the edit test can look for them.
fn line() -> impl Strategy<Value = String> + Clone {
    let name = prop::sample::select(NAMES);
    let def = (
        ws(),
        prop::bool::weighted(0.15),
        name.clone(),
        ws(),
        ws(),
        written_value(),
        prop::option::weighted(
            0.3,
            (prop::sample::select(&[" ", "  ", "\t"][..]), 0..100u32),
        ),
    )
        .prop_map(|(a, export, n, b, c, v, comment)| {
            let export = if export { "export " } else { "" };
            let comment = comment
                .map(|(w, k)| format!("{w}#~{k} note"))
                .unwrap_or_default();
            format!("{a}{export}{n}{b}={c}{v}{comment}")
        });
    prop_oneof![
        8 => def,
        1 => (name.clone(), prop::sample::select(&["a", "b c", "", "\\\"q"][..]))
            .prop_map(|(n, v)| format!("{n}=\"first\n{v}\nlast\"")),
        1 => name.prop_map(String::from),
        2 => frag_soup(4).prop_map(|v| format!("# {v}")),
        1 => ws().prop_map(String::from),
        1 => frag_soup(6),
    ]
}

fn eol() -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(&["\n", "\n", "\n", "\r\n", "\r"][..])
}

/// A .env-shaped file.
fn env_file() -> impl Strategy<Value = Vec<u8>> + Clone {
    (
        prop::collection::vec((line(), eol()), 0..9),
        any::<bool>(),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(lines, final_eol, bom)| {
            let mut s = String::new();
            if bom {
                s.push('\u{feff}');
            }
            let n = lines.len();
            for (i, (l, e)) in lines.into_iter().enumerate() {
                s.push_str(&l);
                if i + 1 < n || final_eol {
                    s.push_str(e);
                }
            }
            s.into_bytes()
        })
}

/// A value to set: plain, tricky (quotes, `#`, `$`, escapes, newlines), or any text.
fn new_value() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        prop::collection::vec(prop::sample::select(&["a", "Z", "9", "-", "/"][..]), 0..6)
            .prop_map(|v| v.concat()),
        frag_soup(5),
        "\\PC{0,6}",
        Just(String::new()),
        Just("line1\nline2\r\n".to_string()),
    ]
}

// ------------------------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------------------------

/// Everything a caller can ask of a parsed file, to shake out panics.
fn exercise(env: &EnvFile) {
    let _ = env.warnings();
    let _ = env.app_key();
    let _ = env.cipher();
    for e in env.entries() {
        assert!(e.line >= 1 && e.last_line >= e.line, "{e:?}");
        let _ = env.entry(&e.name);
    }
    for (k, v) in env.vars() {
        assert_eq!(env.get(k), Some(v.as_str()));
    }
}

/// Byte offset of the start of each physical line (`\r\n`, `\n` or `\r` end a line), and
/// of the end of each line's content.
fn line_bounds(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'\r' | b'\n' => {
                out.push((start, i));
                i += if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push((start, b.len()));
    out
}

fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

/// `set(key, value)` on the parsed `src` and every invariant of the result.
fn check_edit(src: &[u8], key: &str, value: &str) -> Result<(), String> {
    let Ok(before) = EnvFile::parse_inner(src) else {
        return Ok(());
    };
    exercise(&before);
    let old = before.get(key).map(String::from);

    // A no-op edit changes no byte.
    if let Some(old) = &old {
        let mut same = before.clone();
        ensure(matches!(same.set(key, old), Ok(false)), || {
            "no-op set".into()
        })?;
        ensure(same.bytes() == src, || "no-op set changed bytes".into())?;
    }

    let mut after = before.clone();
    let changed = match after.set(key, value) {
        Ok(c) => c,
        // The one refusal allowed for a valid name: an addition after an unclosed `="`,
        // which Laravel would ignore.
        Err(e) if e.message.contains("never closed") && before.entry(key).is_none() => {
            ensure(e.kind.exit_code() == 65, || format!("refusal: {e:?}"))?;
            return Ok(());
        }
        Err(e) => return Err(format!("set refused: {e:?}")),
    };
    ensure(changed == (old.as_deref() != Some(value)), || {
        format!("changed={changed} with old {old:?}")
    })?;
    let new = after.bytes().to_vec();

    // The new bytes read back, here, with the value; the editor's view is the parser's.
    let reread = EnvFile::parse_inner(&new).map_err(|e| format!("edited file rejected: {e:?}"))?;
    exercise(&reread);
    ensure(reread.get(key) == Some(value), || {
        format!("reads back {:?}", reread.get(key))
    })?;
    ensure(reread.vars() == after.vars(), || "reparse differs".into())?;

    // Every other variable keeps its value, in the same order (unless some value expands
    // `${key}`: it follows the new value, as in Laravel).
    let expands = find(src, format!("${{{key}}}").as_bytes()).is_some();
    let others = |e: &EnvFile| -> Vec<(String, String)> {
        e.vars().iter().filter(|(k, _)| k != key).cloned().collect()
    };
    ensure(expands || others(&before) == others(&after), || {
        format!("other keys changed: {:?}", others(&after))
    })?;

    // Bytes outside the edited definition are untouched; the definition becomes one line.
    let lines = line_bounds(src);
    match before.entry(key) {
        Some(e) if changed => {
            let start = lines[e.line - 1].0;
            let end = lines[e.last_line - 1].1;
            let tail = src.len() - end;
            ensure(new[..start] == src[..start], || {
                "bytes before changed".into()
            })?;
            ensure(new.len() >= start + tail, || "file shrank too much".into())?;
            ensure(new[new.len() - tail..] == src[end..], || {
                "bytes after changed".into()
            })?;
            let mid = &new[start..new.len() - tail];
            ensure(!mid.contains(&b'\n') && !mid.contains(&b'\r'), || {
                format!(
                    "edited line spans lines: {:?}",
                    String::from_utf8_lossy(mid)
                )
            })?;
            // An inline comment (`#~N …`) on a one-line definition survives the edit.
            let orig = &src[start..end];
            if e.line == e.last_line {
                if let Some(p) = find(orig, b" #~").or_else(|| find(orig, b"\t#~")) {
                    let comment = &orig[p + 1..];
                    ensure(mid.ends_with(comment), || {
                        format!(
                            "comment lost: {:?} -> {:?}",
                            String::from_utf8_lossy(orig),
                            String::from_utf8_lossy(mid)
                        )
                    })?;
                }
            }
        }
        Some(_) => ensure(new == src, || "unchanged but bytes differ".into())?,
        None => {
            // Appended: the old file is a prefix, then at most a line break, one line, and
            // at most a line break.
            ensure(new.starts_with(src), || "append rewrote the file".into())?;
            let added = &new[src.len()..];
            let inner = added
                .strip_prefix(b"\r\n")
                .or_else(|| added.strip_prefix(b"\n"))
                .unwrap_or(added);
            let inner = inner
                .strip_suffix(b"\r\n")
                .or_else(|| inner.strip_suffix(b"\n"))
                .unwrap_or(inner);
            ensure(!inner.contains(&b'\n') && !inner.contains(&b'\r'), || {
                format!(
                    "appended more than a line: {:?}",
                    String::from_utf8_lossy(added)
                )
            })?;
        }
    }

    // Idempotent: the same edit again changes nothing, on this value and on a fresh parse.
    let mut again = after.clone();
    ensure(matches!(again.set(key, value), Ok(false)), || {
        "second set changed".into()
    })?;
    ensure(again.bytes() == &new[..], || {
        "second set changed bytes".into()
    })?;
    let mut fresh = reread;
    ensure(matches!(fresh.set(key, value), Ok(false)), || {
        "set after reparse changed".into()
    })?;
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------

/// Arbitrary bytes and fragment soup: the parser, the warnings and an edit never panic.
#[test]
fn no_input_panics() {
    let strat = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        frag_soup(12).prop_map(String::into_bytes),
    ];
    for_each("no_input_panics", cases() / 4, strat, |bytes| {
        if let Ok(mut env) = EnvFile::parse_inner(bytes) {
            exercise(&env);
            let _ = env.set("A", "x y");
            exercise(&env);
        }
        Ok(())
    });
}

/// .env-shaped files, a key (defined there or not) and a value: every edit invariant.
#[test]
fn edits_keep_their_invariants() {
    let strat = (
        env_file(),
        prop::sample::select(NAMES),
        new_value(),
        any::<bool>(),
    );
    for_each(
        "edits_keep_their_invariants",
        cases(),
        strat,
        |(src, key, value, existing)| {
            // Half the time edit a key the file defines (when it defines any).
            let key = match EnvFile::parse_inner(src) {
                Ok(e) if *existing && !e.vars().is_empty() => {
                    let i = value.len() % e.vars().len();
                    e.vars()[i].0.clone()
                }
                _ => key.to_string(),
            };
            check_edit(src, &key, value)
        },
    );
}

/// A series of edits ends with the values asked for; a file without `${…}` keeps every
/// other value.
#[test]
fn edit_sequences_compose() {
    let strat = (
        env_file(),
        prop::collection::vec((prop::sample::select(NAMES), new_value()), 1..4),
    );
    for_each(
        "edit_sequences_compose",
        cases() / 4,
        strat,
        |(src, edits)| {
            let Ok(mut env) = EnvFile::parse_inner(src) else {
                return Ok(());
            };
            let mut want: Vec<(String, String)> = env.vars().to_vec();
            for (k, v) in edits {
                match env.set(k, v) {
                    Ok(_) => match want.iter_mut().find(|(n, _)| n == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => want.push((k.to_string(), v.clone())),
                    },
                    Err(e) if e.message.contains("never closed") => return Ok(()),
                    Err(e) => return Err(format!("set({k:?}) refused: {e:?}")),
                }
            }
            let reread = EnvFile::parse_inner(env.bytes()).map_err(|e| format!("{e:?}"))?;
            let mut got = reread.vars().to_vec();
            if find(src, b"${").is_some() {
                // Expansions follow the edits: only the edited keys are known.
                let edited = |k: &str| edits.iter().any(|(e, _)| *e == k);
                got.retain(|(k, _)| edited(k));
                want.retain(|(k, _)| edited(k));
            }
            got.sort();
            want.sort();
            ensure(got == want, || format!("got {got:?}, want {want:?}"))
        },
    );
}
