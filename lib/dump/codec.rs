//! The artifact's bytes: compression names, the compressor in front of the file
//! (hashing what it writes) and the decompressing reader.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// How the dump is compressed in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "zstd" | "zst" => Some(Compression::Zstd),
            "gzip" | "gz" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
    /// The artifact's name in the set.
    pub fn artifact(self) -> &'static str {
        match self {
            Compression::Zstd => "db.sql.zst",
            Compression::Gzip => "db.sql.gz",
            Compression::None => "db.sql",
        }
    }
}

/// Every artifact name a db dump may have (sqlsrv writes a native backup).
pub const ARTIFACTS: [&str; 4] = ["db.sql.zst", "db.sql.gz", "db.sql", "db.bak"];
/// Counts and hashes the bytes written through it (the artifact's bytes).
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    pub(super) fn into_parts(self) -> (W, String, u64) {
        let hex = crate::checksum::hex(&self.hasher.finalize());
        (self.inner, hex, self.bytes)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The compressor in front of the artifact file.
pub(super) enum Sink<W: Write> {
    Zstd(zstd::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
    Plain(W),
}

impl<W: Write> Sink<W> {
    pub(super) fn new(c: Compression, w: W) -> std::io::Result<Sink<W>> {
        Ok(match c {
            Compression::Zstd => Sink::Zstd(zstd::Encoder::new(w, 3)?),
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::default(),
            )),
            Compression::None => Sink::Plain(w),
        })
    }
    pub(super) fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Zstd(e) => e.write_all(b),
            Sink::Gzip(e) => e.write_all(b),
            Sink::Plain(w) => w.write_all(b),
        }
    }
    pub(super) fn finish(self) -> std::io::Result<W> {
        match self {
            Sink::Zstd(e) => e.finish(),
            Sink::Gzip(e) => e.finish(),
            Sink::Plain(w) => Ok(w),
        }
    }
}

/// A decompressing reader over an artifact.
pub fn open_decoder(path: &Path, c: Compression) -> Result<Box<dyn Read + Send>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let r = std::io::BufReader::with_capacity(1 << 20, f);
    Ok(match c {
        Compression::Zstd => Box::new(
            zstd::Decoder::with_buffer(r).map_err(|e| Error::io("decompressing", path, e))?,
        ),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(r)),
        Compression::None => Box::new(r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::AtomicFile;

    #[test]
    fn compressions_round_trip() {
        for c in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join(c.artifact());
            let f = AtomicFile::create(&p, 0o600).unwrap();
            let mut s = Sink::new(c, HashWriter::new(f)).unwrap();
            s.write_all(b"hello dump\n").unwrap();
            let (f, sha, n) = s.finish().unwrap().into_parts();
            f.commit().unwrap();
            assert_eq!(std::fs::metadata(&p).unwrap().len(), n);
            assert_eq!(crate::checksum::sha256_file(&p).unwrap().0, sha);
            let mut back = String::new();
            open_decoder(&p, c)
                .unwrap()
                .read_to_string(&mut back)
                .unwrap();
            assert_eq!(back, "hello dump\n");
        }
    }
}
