//! The `logs` check's reading: Laravel/Monolog log headers, the timezone their times are
//! written in, and a scan that reads only the end of a log newer than `--since`.
//!
//! Laravel writes `[2026-11-25 15:30:00] production.ERROR: …` in the application's
//! timezone (config/app.php `'timezone'`, in DreamFactory `env('APP_TIMEZONE', 'UTC')`),
//! without an offset; reading such a time as UTC misses new lines west of Greenwich.
//!
//! Logs are appended in time order, so a scan starts at the last header older than
//! `--since`, found by reading blocks backwards from the end: a 400 MB log with a few new
//! lines costs a few blocks, not 400 MB. Line numbers are counted only when something
//! was found (then the part before is counted, not parsed).

use crate::envfile::EnvFile;
use crate::error::{Error, Result};
use crate::install::Install;
use crate::report::data::verify::LogLine;
use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use regex::Regex;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Log lines are cut to this many characters in reports.
const MAX_LINE_CHARS: usize = 400;
/// How far back each step of the backward search reads.
const BLOCK: u64 = 1 << 20;

/// The timezone of log times written without an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogZone(pub Tz);

impl Default for LogZone {
    fn default() -> LogZone {
        LogZone(Tz::UTC)
    }
}

impl LogZone {
    /// A local wall-clock time as an instant. An hour that happens twice (autumn) is read
    /// as the later one, so a line is never taken for older than it may be; an hour that
    /// never happens (spring) is read with the offset before the gap.
    pub fn instant(&self, naive: &NaiveDateTime) -> Option<DateTime<FixedOffset>> {
        let t = match self.0.from_local_datetime(naive) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(_, late) => late,
            LocalResult::None => {
                let before = *naive - chrono::Duration::hours(1);
                let off = self.0.offset_from_local_datetime(&before).earliest()?;
                return off.fix().from_local_datetime(naive).single();
            }
        };
        Some(t.fixed_offset())
    }
}

/// Where the application's timezone comes from, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppZone {
    pub name: String,
    pub zone: LogZone,
}

/// The timezone Laravel logs in: config/app.php's `'timezone'` — a literal, or
/// `env('APP_TIMEZONE', 'default')` resolved through .env — else UTC. An unknown name is
/// an error naming the file (Laravel itself would fail to boot).
pub fn app_timezone(install: &Install, env: Option<&EnvFile>) -> Result<AppZone> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r#"(?m)^\s*['"]timezone['"]\s*=>\s*(?:['"]([^'"]+)['"]|env\(\s*['"]([A-Z_][A-Z0-9_]*)['"]\s*(?:,\s*['"]([^'"]*)['"]\s*)?\))"#,
        )
        .expect("valid regex")
    });
    let file = install.path("config/app.php");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let name = match re.captures(&text) {
        Some(c) => match (c.get(1), c.get(2)) {
            (Some(lit), _) => lit.as_str().to_string(),
            (None, Some(key)) => env
                .and_then(|e| e.get(key.as_str()))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .or_else(|| c.get(3).map(|d| d.as_str().to_string()))
                .unwrap_or_else(|| "UTC".into()),
            _ => "UTC".into(),
        },
        None => "UTC".into(),
    };
    let tz: Tz = name.parse().map_err(|_| {
        Error::bad_data(format!(
            "unknown timezone {name:?} (config/app.php 'timezone', APP_TIMEZONE in .env)"
        ))
        .with_hint("use a tz database name such as UTC or America/New_York")
    })?;
    Ok(AppZone {
        name,
        zone: LogZone(tz),
    })
}

/// The time and level of a Laravel/Monolog log line header, e.g.
/// `[2026-11-25 20:30:00] production.ERROR: message`; a time without an offset is in `zone`.
pub fn parse_log_header<'a>(
    line: &'a str,
    zone: &LogZone,
) -> Option<(DateTime<FixedOffset>, &'a str)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"^\[(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\] [^\s\[\]]+?\.([A-Z]+):",
        )
        .expect("valid regex")
    });
    let c = re.captures(line)?;
    let naive =
        NaiveDateTime::parse_from_str(&format!("{} {}", &c[1], &c[2]), "%Y-%m-%d %H:%M:%S").ok()?;
    let t = match c.get(4).map(|m| m.as_str()) {
        None => zone.instant(&naive)?,
        Some("Z") => Utc.from_utc_datetime(&naive).fixed_offset(),
        Some(off) => {
            let off = off.replace(':', "");
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let h: i32 = off[1..3].parse().ok()?;
            let m: i32 = off[3..5].parse().ok()?;
            let fo = FixedOffset::east_opt(sign * (h * 3600 + m * 60))?;
            fo.from_local_datetime(&naive).single()?
        }
    };
    Some((t, c.get(5)?.as_str()))
}

fn is_alarm_level(level: &str) -> bool {
    matches!(level, "ERROR" | "CRITICAL" | "ALERT" | "EMERGENCY")
}

/// Scan one log (from wherever `r` stands) for alarm lines at or after `since`. Line
/// numbers count from 1 at `r`'s position; `name` is how hits name the file.
pub fn scan_log(
    r: impl BufRead,
    name: &str,
    since: DateTime<FixedOffset>,
    zone: &LogZone,
    hits: &mut Vec<LogLine>,
) -> std::io::Result<()> {
    let mut r = r;
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        n += 1;
        // Only header lines start with '['; stack-trace lines are skipped cheaply.
        if buf.first() != Some(&b'[') {
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some((t, level)) = parse_log_header(line, zone) {
            if is_alarm_level(level) && t >= since {
                let text: String = line.chars().take(MAX_LINE_CHARS).collect();
                hits.push(LogLine {
                    file: name.to_string(),
                    line: n,
                    level: level.to_string(),
                    text: crate::secret::scrub(&text),
                });
            }
        }
    }
}

/// Where a scan of `f` for lines at or after `since` may start: the offset of the last
/// header line dated before `since` (0 when there is none). Reads blocks from the end.
pub fn start_offset(
    f: &mut std::fs::File,
    len: u64,
    since: DateTime<FixedOffset>,
    zone: &LogZone,
) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        // A little past `end`, so a header cut by the block's end can still be parsed.
        let stop = (end + 512).min(len);
        buf.resize((stop - start) as usize, 0);
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        let block_len = (end - start) as usize;
        // The earliest header that begins inside [start, end).
        let mut i = 0usize;
        while i < block_len {
            let at_line_start = (start == 0 && i == 0) || (i > 0 && buf[i - 1] == b'\n');
            if at_line_start && buf[i] == b'[' {
                let line_end = buf[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(buf.len(), |k| i + k);
                let line = String::from_utf8_lossy(&buf[i..line_end]);
                if let Some((t, _)) = parse_log_header(&line, zone) {
                    if t < since {
                        return Ok(start + i as u64);
                    }
                    // Every later line is new too; look further back.
                    break;
                }
            }
            match buf[i..block_len].iter().position(|&b| b == b'\n') {
                Some(k) => i += k + 1,
                None => break,
            }
        }
        end = start;
    }
    Ok(0)
}

/// Newlines in the first `upto` bytes of `f`.
fn count_lines(f: &mut std::fs::File, upto: u64) -> std::io::Result<usize> {
    f.seek(SeekFrom::Start(0))?;
    let mut left = upto;
    let mut n = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let k = f.read(&mut buf[..want])?;
        if k == 0 {
            break;
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count();
        left -= k as u64;
    }
    Ok(n)
}

/// The result of scanning a log directory.
#[derive(Debug, Default)]
pub struct LogScan {
    pub files: Vec<String>,
    pub hits: Vec<LogLine>,
}

/// Scan one file: seek to where new lines may start, scan from there, then number hits.
fn scan_file(
    p: &Path,
    name: &str,
    since: DateTime<FixedOffset>,
    zone: &LogZone,
    hits: &mut Vec<LogLine>,
) -> std::io::Result<()> {
    let mut f = std::fs::File::open(p)?;
    let len = f.metadata()?.len();
    let from = start_offset(&mut f, len, since, zone)?;
    f.seek(SeekFrom::Start(from))?;
    let first = hits.len();
    scan_log(
        std::io::BufReader::with_capacity(1 << 16, &mut f),
        name,
        since,
        zone,
        hits,
    )?;
    if hits.len() > first && from > 0 {
        let before = count_lines(&mut f, from)?;
        for h in &mut hits[first..] {
            h.line += before;
        }
    }
    Ok(())
}

/// Scan `dir/*.log` (DreamFactory: dreamfactory.log, daily dreamfactory-DATE.log,
/// laravel.log). Files not modified since `since` cannot hold new lines and are not read.
pub fn scan_logs(dir: &Path, since: DateTime<FixedOffset>, zone: &LogZone) -> Result<LogScan> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("reading", dir, e))?;
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log") && p.is_file())
        .collect();
    paths.sort();
    let mut scan = LogScan::default();
    let since_sys: std::time::SystemTime = since.with_timezone(&Utc).into();
    for p in paths {
        let name = format!(
            "storage/logs/{}",
            p.file_name().unwrap_or_default().to_string_lossy()
        );
        let md = std::fs::metadata(&p).map_err(|e| Error::io("inspecting", &p, e))?;
        if md.modified().is_ok_and(|m| m < since_sys) {
            continue;
        }
        scan_file(&p, &name, since, zone, &mut scan.hits)
            .map_err(|e| Error::io("reading", &p, e))?;
        scan.files.push(name);
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }
    const UTC: LogZone = LogZone(Tz::UTC);

    #[test]
    fn log_headers() {
        let (ts, lvl) = parse_log_header(
            "[2026-11-25 20:30:00] production.ERROR: boom {\"x\":1}",
            &UTC,
        )
        .unwrap();
        assert_eq!(ts, t("2026-11-25T20:30:00Z"));
        assert_eq!(lvl, "ERROR");
        let (ts, lvl) =
            parse_log_header("[2026-11-25T21:30:00.123456+01:00] local.CRITICAL: x", &UTC).unwrap();
        assert_eq!(ts, t("2026-11-25T20:30:00Z"));
        assert_eq!(lvl, "CRITICAL");
        assert!(parse_log_header("#0 /opt/df/vendor/x.php(12): foo()", &UTC).is_none());
        assert!(parse_log_header("[stacktrace]", &UTC).is_none());
        assert!(parse_log_header("[2026-11-25 20:30:00] production.INFO: ok", &UTC).is_some());
    }

    #[test]
    fn times_without_offset_are_in_the_app_timezone() {
        let ny = LogZone(chrono_tz::America::New_York);
        // November: EST, UTC-5.
        let (ts, _) = parse_log_header("[2026-11-25 15:30:00] production.ERROR: x", &ny).unwrap();
        assert_eq!(ts, t("2026-11-25T20:30:00Z"));
        // July: EDT, UTC-4.
        let (ts, _) = parse_log_header("[2026-07-01 16:30:00] production.ERROR: x", &ny).unwrap();
        assert_eq!(ts, t("2026-07-01T20:30:00Z"));
        // 01:30 happens twice on 2026-11-01: the later (EST) instant.
        let (ts, _) = parse_log_header("[2026-11-01 01:30:00] production.ERROR: x", &ny).unwrap();
        assert_eq!(ts, t("2026-11-01T06:30:00Z"));
        // 02:30 never happens on 2026-03-08: read with the offset before the gap (EST).
        let (ts, _) = parse_log_header("[2026-03-08 02:30:00] production.ERROR: x", &ny).unwrap();
        assert_eq!(ts, t("2026-03-08T07:30:00Z"));
        // An explicit offset wins over the zone.
        let (ts, _) =
            parse_log_header("[2026-11-25T20:30:00+00:00] production.ERROR: x", &ny).unwrap();
        assert_eq!(ts, t("2026-11-25T20:30:00Z"));
    }

    #[test]
    fn scan_finds_new_alarm_lines_only() {
        let log = "\
[2026-11-25 20:00:00] production.ERROR: old error
#0 trace
[2026-11-25 20:30:00] production.INFO: upgrade started
[2026-11-25 20:30:00] production.ERROR: at the boundary
[stacktrace]
[2026-11-25 20:31:00] production.WARNING: only a warning
[2026-11-25 20:32:00] production.EMERGENCY: disk full
[2026-11-25 20:33:00] production.ALERT: alert
";
        let mut hits = Vec::new();
        scan_log(
            log.as_bytes(),
            "storage/logs/dreamfactory.log",
            t("2026-11-25T20:30:00Z"),
            &UTC,
            &mut hits,
        )
        .unwrap();
        let got: Vec<(usize, &str)> = hits.iter().map(|h| (h.line, h.level.as_str())).collect();
        assert_eq!(got, vec![(4, "ERROR"), (7, "EMERGENCY"), (8, "ALERT")]);
        assert_eq!(
            hits[0].text,
            "[2026-11-25 20:30:00] production.ERROR: at the boundary"
        );
    }

    /// A log of several blocks: the backward search starts near the end, and the hits
    /// (and their line numbers) are those of a full scan.
    #[test]
    fn large_log_is_read_from_the_end_with_the_same_hits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dreamfactory.log");
        let mut text = String::new();
        let base =
            NaiveDateTime::parse_from_str("2026-11-25 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        // ~6 MB: 40,000 entries one second apart, each with a stack trace line.
        for i in 0..40_000i64 {
            let ts = (base + chrono::Duration::seconds(i)).format("%Y-%m-%d %H:%M:%S");
            let level = if i % 997 == 0 { "ERROR" } else { "INFO" };
            text.push_str(&format!(
                "[{ts}] production.{level}: entry {i} {}\n#0 /opt/df/vendor/x.php(12): f()\n",
                "x".repeat(100)
            ));
        }
        std::fs::write(&p, &text).unwrap();
        let since = t("2026-11-25T10:00:00Z"); // entry 36000
        let mut full = Vec::new();
        scan_log(text.as_bytes(), "l", since, &UTC, &mut full).unwrap();
        let mut fast = Vec::new();
        scan_file(&p, "l", since, &UTC, &mut fast).unwrap();
        assert!(!full.is_empty());
        assert_eq!(fast, full);
        let mut f = std::fs::File::open(&p).unwrap();
        let len = f.metadata().unwrap().len();
        let from = start_offset(&mut f, len, since, &UTC).unwrap();
        // It starts at a header older than `since`, at most two blocks from the end.
        assert!(
            len - from <= 2 * BLOCK,
            "starts near the end: {from} of {len}"
        );
        let at = &text[from as usize..];
        let (ts, _) = parse_log_header(at.lines().next().unwrap(), &UTC).unwrap();
        assert!(ts < since);
        // Nothing new: no hits, and a since before the log starts scans it all.
        let mut none = Vec::new();
        scan_file(&p, "l", t("2026-11-26T00:00:00Z"), &UTC, &mut none).unwrap();
        assert!(none.is_empty());
        let mut all = Vec::new();
        scan_file(&p, "l", t("2026-11-24T00:00:00Z"), &UTC, &mut all).unwrap();
        assert_eq!(all.len(), 41);
        assert_eq!(all[0].line, 1);
    }
}
