//! A tiny HTTP/1.1 client for health probes: `GET http://host[:port]/path` over a plain
//! `TcpStream`, with a deadline on the whole request and a cap on the body kept.
//!
//! Only what a probe needs: no TLS (`https://` is refused with a usage error — probe the
//! local plain-HTTP listener, or front it with a tool that speaks TLS), no redirects
//! (a 301 is reported as 301), no keep-alive (`Connection: close`). Bodies may be sized
//! by `Content-Length`, chunked, or end at EOF.

use crate::error::{Error, Result};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How much of a body [`get`] keeps by default (the rest is read and dropped).
pub const DEFAULT_BODY_CAP: usize = 1 << 20;
/// Response headers larger than this are a malformed response.
const MAX_HEAD: usize = 64 * 1024;

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host as written (an IPv6 literal without its brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl Url {
    /// Parse `http://host[:port][/path[?query]]`. Anything else is a usage error.
    pub fn parse(url: &str) -> Result<Url> {
        let bad = |why: &str| {
            Error::usage(format!("bad URL {url:?}: {why}")).with_hint(
                "give a plain HTTP URL such as http://127.0.0.1/ or http://localhost:8080/status",
            )
        };
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(bad("https is not supported; probe the plain-HTTP listener"))
            }
            _ => return Err(bad("it must start with http://")),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // A fragment never goes on the wire.
        let path = path.split('#').next().unwrap_or("");
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
        };
        Ok(Url { host, port, path })
    }

    /// The `Host:` header value (port only when not 80).
    pub fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

/// A response: status, headers (names lower-cased, in order) and the body (at most the cap).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was longer than the cap; `body` holds its beginning.
    pub truncated: bool,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body, lossily decoded.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET url`, everything (connect, send, read) within `timeout`, body capped at
/// [`DEFAULT_BODY_CAP`]. A refused connection or a timeout is an `unavailable` error.
pub fn get(url: &str, timeout: Duration) -> Result<Response> {
    get_url(&Url::parse(url)?, timeout, DEFAULT_BODY_CAP)
}

/// [`get`] with a parsed URL and an explicit body cap.
pub fn get_url(url: &Url, timeout: Duration, body_cap: usize) -> Result<Response> {
    let deadline = Instant::now() + timeout;
    let fail = |what: String| Error::unavailable(format!("GET {url}: {what}"));
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve {}: {e}", url.host)))?
        .collect();
    let mut last_err = None;
    let mut stream = None;
    for a in &addrs {
        let left = remaining(deadline).ok_or_else(|| fail("timed out connecting".into()))?;
        match TcpStream::connect_timeout(a, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let mut stream = stream.ok_or_else(|| {
        fail(match last_err {
            Some(e) => e.to_string(),
            None => format!("{} resolves to no address", url.host),
        })
    })?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: dfkit/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        url.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    let left = remaining(deadline).ok_or_else(|| fail("timed out".into()))?;
    stream
        .set_write_timeout(Some(left))
        .and_then(|_| stream.write_all(request.as_bytes()))
        .map_err(|e| fail(format!("sending request: {e}")))?;
    let mut reader = DeadlineReader {
        stream,
        deadline,
        buf: Vec::new(),
        pos: 0,
        eof: false,
    };
    read_response(&mut reader, body_cap).map_err(fail)
}

fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then_some(left)
}

/// A buffered reader over the socket whose every read honours the request deadline.
struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl DeadlineReader {
    /// Read more bytes into the buffer; false at EOF.
    fn fill(&mut self) -> std::result::Result<bool, String> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let left = remaining(self.deadline).ok_or("timed out reading the response")?;
        self.stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err("timed out reading the response".into())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(format!("reading the response: {e}")),
        }
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// One line ending in `\n` (without the line ending), at most `max` bytes.
    fn line(&mut self, max: usize) -> std::result::Result<String, String> {
        loop {
            if let Some(i) = self.available().iter().position(|&b| b == b'\n') {
                let raw = &self.buf[self.pos..self.pos + i];
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let s = String::from_utf8_lossy(raw).into_owned();
                self.pos += i + 1;
                return Ok(s);
            }
            if self.available().len() > max {
                return Err("response line too long".into());
            }
            if !self.fill()? {
                return Err("connection closed in the middle of the response head".into());
            }
        }
    }

    /// Up to `n` bytes, fewer only at EOF; `sink` gets them.
    fn take(&mut self, mut n: u64, sink: &mut dyn FnMut(&[u8])) -> std::result::Result<(), String> {
        while n > 0 {
            if self.available().is_empty() && !self.fill()? {
                return Err("connection closed before the end of the body".into());
            }
            let avail = self.available();
            let k = avail.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            sink(&avail[..k]);
            self.pos += k;
            n -= k as u64;
        }
        Ok(())
    }

    /// Everything to EOF.
    fn rest(&mut self, sink: &mut dyn FnMut(&[u8])) -> std::result::Result<(), String> {
        loop {
            let avail = self.available();
            sink(avail);
            self.pos = self.buf.len();
            if !self.fill()? {
                return Ok(());
            }
        }
    }
}

fn read_response(r: &mut DeadlineReader, cap: usize) -> std::result::Result<Response, String> {
    let status_line = r.line(MAX_HEAD)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/") {
        return Err(format!(
            "not an HTTP response: {:?}",
            truncate(&status_line, 80)
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", truncate(&status_line, 80)))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut head_bytes = status_line.len();
    loop {
        let line = r.line(MAX_HEAD)?;
        head_bytes += line.len();
        if head_bytes > MAX_HEAD {
            return Err("response headers too large".into());
        }
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let mut truncated = false;
    let mut sink = |b: &[u8]| {
        let room = cap.saturating_sub(body.len());
        if b.len() > room {
            truncated = true;
        }
        body.extend_from_slice(&b[..b.len().min(room)]);
    };
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let no_body = status / 100 == 1 || status == 204 || status == 304;
    if no_body {
    } else if find("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        loop {
            let size_line = r.line(1024)?;
            let size_hex = size_line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_hex, 16)
                .map_err(|_| format!("bad chunk size {:?}", truncate(&size_line, 40)))?;
            if size == 0 {
                // Trailers, up to the empty line (or EOF: servers may just close).
                while let Ok(l) = r.line(MAX_HEAD) {
                    if l.is_empty() {
                        break;
                    }
                }
                break;
            }
            r.take(size, &mut sink)?;
            r.line(2)?;
        }
    } else if let Some(len) = find("content-length") {
        let len: u64 = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        r.take(len, &mut sink)?;
    } else {
        r.rest(&mut sink)?;
    }
    Ok(Response {
        status,
        reason,
        headers,
        body,
        truncated,
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// What a health probe expects.
#[derive(Debug, Clone)]
pub struct Probe {
    pub url: Url,
    /// The status that counts as healthy.
    pub expect_status: u16,
    /// Text the body must contain, if any.
    pub expect_body: Option<String>,
    /// Give up after this long, all attempts together.
    pub timeout: Duration,
    /// Pause between attempts.
    pub interval: Duration,
}

/// The outcome of a probe, as reports show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProbeResult {
    pub url: String,
    pub ok: bool,
    pub attempts: u32,
    pub expect_status: u16,
    pub expect_body: Option<String>,
    /// The status of the last response (null if none ever came).
    pub last_status: Option<u16>,
    /// Why the last attempt was not healthy (null when it was).
    pub last_error: Option<String>,
    /// The beginning of the last body seen (at most 512 characters).
    pub body_snippet: Option<String>,
    pub elapsed_ms: u64,
}

/// Probe `url` until it answers `expect_status` or `timeout_total` passes.
pub fn probe(
    url: &str,
    expect_status: u16,
    timeout_total: Duration,
    interval: Duration,
) -> Result<ProbeResult> {
    Ok(Probe {
        url: Url::parse(url)?,
        expect_status,
        expect_body: None,
        timeout: timeout_total,
        interval,
    }
    .run())
}

impl Probe {
    /// Try, pause, try again… until healthy or out of time (always at least one attempt).
    pub fn run(&self) -> ProbeResult {
        let t0 = Instant::now();
        let deadline = t0 + self.timeout;
        let mut res = ProbeResult {
            url: self.url.to_string(),
            ok: false,
            attempts: 0,
            expect_status: self.expect_status,
            expect_body: self.expect_body.clone(),
            last_status: None,
            last_error: None,
            body_snippet: None,
            elapsed_ms: 0,
        };
        loop {
            res.attempts += 1;
            // Each attempt may use what is left, but no more than 10 s, so a hung
            // server does not eat the whole budget in one go.
            let per_try = remaining(deadline)
                .unwrap_or(Duration::from_millis(500))
                .min(Duration::from_secs(10));
            match get_url(&self.url, per_try, 64 * 1024) {
                Ok(resp) => {
                    let text = resp.text();
                    res.last_status = Some(resp.status);
                    res.body_snippet = Some(truncate(&text, 512));
                    res.last_error = if resp.status != self.expect_status {
                        Some(format!(
                            "status {} {}, expected {}",
                            resp.status, resp.reason, self.expect_status
                        ))
                    } else {
                        match &self.expect_body {
                            Some(want) if !text.contains(want.as_str()) => {
                                Some(format!("body does not contain {want:?}"))
                            }
                            _ => None,
                        }
                    };
                }
                Err(e) => {
                    res.last_error = Some(e.message);
                }
            }
            res.ok = res.last_error.is_none();
            if res.ok {
                break;
            }
            match remaining(deadline) {
                Some(left) if left > self.interval => std::thread::sleep(self.interval),
                _ => break,
            }
        }
        res.elapsed_ms = t0.elapsed().as_millis() as u64;
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serve each connection with `reply` (raw bytes), `n` times, on a free port.
    fn serve(reply: &'static [u8], n: usize) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming().take(n) {
                let mut s = s.unwrap();
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let k = s.read(&mut buf).unwrap();
                    if k == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..k]);
                }
                let _ = s.write_all(reply);
            }
        });
        port
    }

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://127.0.0.1/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 80, "/")
        );
        let u = Url::parse("http://localhost:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 8080, "/")
        );
        let u = Url::parse("HTTP://h:81/status?x=1#frag").unwrap();
        assert_eq!((u.port, u.path.as_str()), (81, "/status?x=1"));
        let u = Url::parse("http://[::1]:9000/a").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.host_header(), "[::1]:9000");
        let u = Url::parse("http://h?q").unwrap();
        assert_eq!(u.path, "/?q");
        for bad in [
            "https://h/",
            "ftp://h",
            "h/x",
            "http://:80/",
            "http://h:99999/",
            "http://u:p@h/",
        ] {
            let e = Url::parse(bad).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Usage, "{bad}");
        }
    }

    #[test]
    fn content_length_body() {
        let port = serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloEXTRA",
            1,
        );
        let r = get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.body, b"hello");
        assert_eq!(r.header("x-a"), Some("b"));
    }

    #[test]
    fn chunked_body() {
        let port = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia!\r\n0\r\n\r\n",
            1,
        );
        let r = get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).unwrap();
        assert_eq!(r.text(), "Wikipedia!");
    }

    #[test]
    fn body_to_eof_and_cap() {
        let port = serve(b"HTTP/1.0 500 Oops\r\n\r\n0123456789", 1);
        let r = get_url(
            &Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            Duration::from_secs(5),
            4,
        )
        .unwrap();
        assert_eq!(r.status, 500);
        assert_eq!(r.body, b"0123");
        assert!(r.truncated);
    }

    #[test]
    fn refused_is_unavailable() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(2)).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Unavailable);
    }

    #[test]
    fn silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = get(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.message.contains("timed out"), "{}", e.message);
        drop(l);
    }

    #[test]
    fn probe_reports_last_status_and_body_expectation() {
        let port = serve(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom",
            100,
        );
        let r = probe(
            &format!("http://127.0.0.1:{port}/"),
            200,
            Duration::from_millis(600),
            Duration::from_millis(100),
        )
        .unwrap();
        assert!(!r.ok);
        assert!(r.attempts >= 2, "{r:?}");
        assert_eq!(r.last_status, Some(500));
        assert_eq!(r.body_snippet.as_deref(), Some("boom"));

        let port = serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nversion 7",
            100,
        );
        let mut p = Probe {
            url: Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            expect_status: 200,
            expect_body: Some("version 8".into()),
            timeout: Duration::from_millis(300),
            interval: Duration::from_millis(100),
        };
        let r = p.run();
        assert!(!r.ok);
        assert!(r.last_error.unwrap().contains("version 8"));
        p.expect_body = Some("version 7".into());
        let r = p.run();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.attempts, 1);
        assert_eq!(r.last_error, None);
    }
}
