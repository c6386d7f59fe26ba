//! Composer version constraints, enough to check `require.php` against a PHP version.
//!
//! The forms composer.json files use for PHP: `>=7.3`, `^8.1`, `~8.0`, `8.1.*`, `8.2`,
//! `>=7.4 <8.3` and `>=7.4,<8.3` (AND), `^7.4 || ^8.0` and `^7.4|^8.0` (OR), `*`. A
//! constraint this does not understand is reported as such (never as satisfied), so a
//! caller can say "could not check" instead of guessing.

use std::cmp::Ordering;

/// A version as three numbers (missing parts are 0; suffixes like `-1+deb12u1` ignored).
fn parse_version(s: &str) -> Option<[u64; 3]> {
    let s = s.trim().trim_start_matches(['v', 'V']);
    let core: &str = s
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut out = [0u64; 3];
    let mut n = 0;
    for (i, part) in core.split('.').filter(|p| !p.is_empty()).enumerate() {
        if i >= 3 {
            break;
        }
        out[i] = part.parse().ok()?;
        n += 1;
    }
    (n > 0).then_some(out)
}

/// How many parts a constraint's version named (`8` → 1, `8.1` → 2, `8.1.2` → 3).
fn parts(s: &str) -> usize {
    s.trim()
        .trim_start_matches(['v', 'V'])
        .split('.')
        .take_while(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .count()
}

fn bump(v: [u64; 3], at: usize) -> [u64; 3] {
    match at {
        0 => [v[0] + 1, 0, 0],
        1 => [v[0], v[1] + 1, 0],
        _ => [v[0], v[1], v[2] + 1],
    }
}

/// One term, e.g. `>=7.4` or `^8.1`: does `v` satisfy it? None: not understood.
fn term(t: &str, v: [u64; 3]) -> Option<bool> {
    let t = t.trim();
    if t == "*" || t.is_empty() {
        return Some(true);
    }
    let ops = [">=", "<=", "!=", "==", ">", "<", "=", "^", "~"];
    let (op, rest) = ops
        .iter()
        .find_map(|op| t.strip_prefix(op).map(|r| (*op, r.trim())))
        .unwrap_or(("", t));
    if let Some(prefix) = rest.strip_suffix(".*") {
        let base = parse_version(prefix)?;
        let n = parts(prefix);
        return Some(v >= base && v < bump(base, n.saturating_sub(1)));
    }
    let base = parse_version(rest)?;
    let n = parts(rest);
    let cmp = v.cmp(&base);
    Some(match op {
        ">=" => cmp != Ordering::Less,
        ">" => cmp == Ordering::Greater,
        "<=" => cmp != Ordering::Greater,
        "<" => cmp == Ordering::Less,
        "!=" => cmp != Ordering::Equal,
        "^" => {
            // The first non-zero part may not change (composer's caret).
            let at = if base[0] > 0 || n == 1 {
                0
            } else if base[1] > 0 || n == 2 {
                1
            } else {
                2
            };
            v >= base && v < bump(base, at)
        }
        "~" => {
            // ~8.1 means >=8.1 <9; ~8.1.2 means >=8.1.2 <8.2.
            let at = if n >= 3 { 1 } else { 0 };
            v >= base && v < bump(base, at)
        }
        // A bare or `=` version matches the parts it names: `8.2` is 8.2.*.
        _ => {
            let n = n.clamp(1, 3);
            v[..n] == base[..n]
        }
    })
}

/// Whether `version` satisfies `constraint`; None when the constraint (or the version)
/// is not in a form this understands.
pub fn satisfies(constraint: &str, version: &str) -> Option<bool> {
    let v = parse_version(version)?;
    let mut any = false;
    for alt in constraint.split("||").flat_map(|a| a.split('|')) {
        let mut all = true;
        let terms: Vec<&str> = alt
            .split([',', ' '])
            .filter(|t| !t.trim().is_empty())
            .collect();
        // `>= 7.4` (operator and version apart) joins back into one term.
        let mut joined: Vec<String> = Vec::new();
        for t in terms {
            match joined.last_mut() {
                Some(last) if last.chars().all(|c| "<>=!^~".contains(c)) => last.push_str(t),
                _ => joined.push(t.to_string()),
            }
        }
        for t in &joined {
            all &= term(t, v)?;
        }
        any |= all;
    }
    Some(any)
}

#[cfg(test)]
mod tests {
    use super::satisfies;

    #[test]
    fn php_constraints_as_composer_reads_them() {
        let yes = [
            (">=7.3", "8.2.7"),
            ("^8.1", "8.2.7"),
            ("^7.4 || ^8.0", "8.2.7"),
            ("^7.4|^8.0", "7.4.33"),
            ("~8.0", "8.3.0"),
            ("~8.1.2", "8.1.9"),
            ("8.2.*", "8.2.7"),
            ("8.2", "8.2.7"),
            (">=7.4 <8.3", "8.2.7"),
            (">=7.4,<8.3", "8.2.7"),
            (">= 7.4", "8.2.0"),
            ("*", "5.6.0"),
            (">=8.1", "8.2.7-1+deb12u1"),
        ];
        for (c, v) in yes {
            assert_eq!(satisfies(c, v), Some(true), "{c} {v}");
        }
        let no = [
            (">=8.3", "8.2.7"),
            ("^8.3", "8.2.7"),
            ("^7.4", "8.2.7"),
            ("~8.1.2", "8.2.0"),
            ("8.1.*", "8.2.7"),
            (">=7.4 <8.2", "8.2.7"),
            ("^0.3", "0.4.0"),
        ];
        for (c, v) in no {
            assert_eq!(satisfies(c, v), Some(false), "{c} {v}");
        }
        assert_eq!(satisfies("dev-master", "8.2.7"), None);
        assert_eq!(satisfies(">=8", "not a version"), None);
    }
}
