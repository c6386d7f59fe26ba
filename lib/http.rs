//! The HTTP client of health probes: `GET http://…` or `https://…` through ureq (rustls),
//! with a deadline on the whole request and a cap on the body kept.
//!
//! TLS: the system's trust store by default (rustls-platform-verifier reads the roots the
//! distribution installs, honouring `SSL_CERT_FILE`), `--ca-file FILE` to trust a private
//! CA instead, and `--insecure` to skip verification (said out loud in the report, never
//! implied). No redirects are followed (a 301 is reported as 301), no proxy is used (a
//! probe of 127.0.0.1 must reach 127.0.0.1), and 4xx/5xx are responses, not errors.

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of a body [`get`] keeps by default (the rest is not read).
pub const DEFAULT_BODY_CAP: usize = 1 << 20;

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https://` (else `http://`).
    pub https: bool,
    /// Host as written (an IPv6 literal without its brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl Url {
    /// Parse `http[s]://host[:port][/path[?query]]`. Anything else is a usage error.
    pub fn parse(url: &str) -> Result<Url> {
        let bad = |why: &str| {
            Error::usage(format!("bad URL {url:?}: {why}"))
                .with_hint("give a URL such as http://127.0.0.1/ or https://localhost:8443/status")
        };
        let (https, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            _ => return Err(bad("it must start with http:// or https://")),
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
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the host holds spaces"));
        }
        let port = match port {
            None | Some("") => Url::default_port(https),
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
        };
        Ok(Url {
            https,
            host,
            port,
            path,
        })
    }

    fn default_port(https: bool) -> u16 {
        if https {
            443
        } else {
            80
        }
    }

    /// `host[:port]` as it goes in a URL (port only when not the scheme's default).
    pub fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == Url::default_port(self.https) {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.path)
    }
}

/// How an `https://` URL's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    /// Trust the CA certificates (PEM) in this file instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Do not verify the certificate at all (`--insecure`).
    pub insecure: bool,
}

impl Tls {
    /// Check the options before anything runs: a CA file must hold a PEM certificate.
    pub fn check(&self) -> Result<()> {
        self.roots().map(|_| ())
    }

    fn roots(&self) -> Result<ureq::tls::RootCerts> {
        let Some(file) = &self.ca_file else {
            return Ok(ureq::tls::RootCerts::PlatformVerifier);
        };
        let pem = std::fs::read(file).map_err(|e| Error::io("reading CA file", file, e))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::bad_data(format!(
                        "{}: not a PEM certificate file: {e}",
                        file.display()
                    ))
                    .with_hint("give --ca-file a PEM file (-----BEGIN CERTIFICATE-----)"))
                }
            }
        }
        if certs.is_empty() {
            return Err(
                Error::bad_data(format!("{}: holds no PEM certificate", file.display()))
                    .with_hint("give --ca-file a PEM file (-----BEGIN CERTIFICATE-----)"),
            );
        }
        Ok(ureq::tls::RootCerts::Specific(Arc::new(certs)))
    }

    fn config(&self) -> Result<ureq::tls::TlsConfig> {
        Ok(ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(self.roots()?)
            .disable_verification(self.insecure)
            .build())
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

/// `GET url` with the system's roots, everything within `timeout`, body capped at
/// [`DEFAULT_BODY_CAP`]. A refused connection, a timeout or a TLS failure is an
/// `unavailable` error.
pub fn get(url: &str, timeout: Duration) -> Result<Response> {
    get_url(
        &Url::parse(url)?,
        timeout,
        DEFAULT_BODY_CAP,
        &Tls::default(),
    )
}

/// [`get`] with a parsed URL, an explicit body cap and TLS options.
pub fn get_url(url: &Url, timeout: Duration, body_cap: usize, tls: &Tls) -> Result<Response> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(None)
        .timeout_global(Some(timeout.max(Duration::from_millis(1))))
        .user_agent(format!("dfkit/{}", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.config()?)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut resp = agent
        .get(url.to_string())
        .header("Accept", "*/*")
        .call()
        .map_err(|e| request_error(url, &e))?;
    let status = resp.status();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let mut reader = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .reader()
        .take(body_cap as u64 + 1);
    reader
        .read_to_end(&mut body)
        .map_err(|e| Error::unavailable(format!("GET {url}: reading the response: {e}")))?;
    let truncated = body.len() > body_cap;
    body.truncate(body_cap);
    Ok(Response {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_string(),
        headers,
        body,
        truncated,
    })
}

/// A request's failure, named plainly: TLS verification failures say so and how to fix them.
fn request_error(url: &Url, e: &ureq::Error) -> Error {
    let text = match e {
        ureq::Error::Io(io) => match io.get_ref() {
            Some(inner) => inner.to_string(),
            None => io.to_string(),
        },
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => format!("cannot resolve {}", url.host),
        other => other.to_string(),
    };
    let lower = text.to_ascii_lowercase();
    if url.https && lower.contains("causedasendentity") {
        // `openssl req -x509` marks its certificate CA:TRUE unless told otherwise; rustls
        // never accepts a CA certificate as a server's, trusted or not.
        return Error::unavailable(format!(
            "GET {url}: TLS certificate verification failed: the server presents a CA certificate (basicConstraints CA:TRUE) as its own: {text}"
        ))
        .with_hint(
            "give the server a certificate with basicConstraints CA:FALSE (for a self-signed one: openssl req -x509 … -addext basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:HOST) and pass it with --ca-file, or skip verification with --insecure",
        );
    }
    if url.https && (lower.contains("certificate") || lower.contains("unknownissuer")) {
        return Error::unavailable(format!(
            "GET {url}: TLS certificate verification failed: {text}"
        ))
        .with_hint(
            "give the CA that signed the server's certificate with --ca-file FILE, or skip verification with --insecure",
        );
    }
    if url.https
        && (lower.contains("tls") || lower.contains("handshake") || lower.contains("rustls"))
    {
        return Error::unavailable(format!("GET {url}: TLS handshake failed: {text}"));
    }
    let mut err = Error::unavailable(format!("GET {url}: {text}"));
    if matches!(e, ureq::Error::Tls(_) | ureq::Error::Pem(_)) {
        err.kind = ErrorKind::BadData;
    }
    err
}

fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then_some(left)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// A health probe: GET a URL until it answers the expected status (and body), or time runs out.
#[derive(Debug, Clone)]
pub struct Probe {
    pub url: Url,
    pub expect_status: u16,
    pub expect_body: Option<String>,
    /// How long to keep trying, in all.
    pub timeout: Duration,
    /// The pause between attempts.
    pub interval: Duration,
    pub tls: Tls,
}

/// The probe's report (`data.probe` of df-restart).
pub use crate::report::data::restart::ProbeResult;

/// Probe `url` every `interval` until it answers `expect_status` or `timeout_total` passed.
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
        tls: Tls::default(),
    }
    .run())
}

impl Probe {
    /// Try until healthy or out of time; the result holds the last attempt's story.
    pub fn run(&self) -> ProbeResult {
        let t0 = Instant::now();
        let deadline = t0 + self.timeout;
        let mut res = ProbeResult {
            url: self.url.to_string(),
            ok: false,
            attempts: 0,
            expect_status: self.expect_status,
            expect_body: self.expect_body.clone(),
            insecure: self.tls.insecure,
            last_status: None,
            last_error: None,
            body_snippet: None,
            elapsed_ms: 0,
        };
        loop {
            res.attempts += 1;
            let per_try = remaining(deadline)
                .unwrap_or(Duration::from_millis(500))
                .min(Duration::from_secs(10));
            match get_url(&self.url, per_try, 64 * 1024, &self.tls) {
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
                    res.last_status = None;
                    res.last_error = Some(e.message);
                }
            }
            res.ok = res.last_error.is_none();
            // A certificate the client refuses will not change by waiting.
            let tls_refused = res
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("TLS certificate verification failed"));
            if res.ok || tls_refused {
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
    use std::io::Write;
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
        let u = Url::parse("https://h/s").unwrap();
        assert!(u.https);
        assert_eq!((u.port, u.to_string().as_str()), (443, "https://h/s"));
        let u = Url::parse("https://h:8443").unwrap();
        assert_eq!(u.to_string(), "https://h:8443/");
        let u = Url::parse("http://h?q").unwrap();
        assert_eq!(u.path, "/?q");
        for bad in [
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
            &Tls::default(),
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
            // Long enough that a loaded machine still gets an answer before the deadline
            // (the assertion is about the body, not about timing).
            timeout: Duration::from_secs(3),
            interval: Duration::from_millis(100),
            tls: Tls::default(),
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
