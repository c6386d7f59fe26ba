//! The migration bundle: one file that carries an instance to a new server.
//!
//! A bundle is a plain ustar archive (mode 0600) of a backup set's artifacts —
//! `manifest.json` first, then `env`, `env.meta.json`, the dump and `db.meta.json` —
//! followed by one last member, `bundle.sha256`, holding the sha256 of every archive byte
//! before it, and the two zero blocks that end a tar. The trailer (that last member and
//! the end-of-archive blocks) has one canonical form: a fixed 2048 bytes that depend only
//! on the digest. So a reader checks EVERY byte: the bytes before the trailer against the
//! digest, and the trailer against its canonical form (which also means nothing may follow
//! it). A flipped byte in a header, in member data, in padding or in the trailer is
//! found before anything is unpacked. `tar -tvf` still lists a bundle.
//!
//! With recipients the whole archive is then encrypted for them with age (X25519 keys as
//! `age-keygen` writes them); age's MACs detect any change, and the plaintext archive
//! exists only in a 0700 temp directory on either side.

use crate::error::{Error, ErrorKind, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The format name written into every manifest.
pub const FORMAT: &str = "dfkit-bundle/1";
/// The first member: the [`Manifest`].
pub const MANIFEST: &str = "manifest.json";
/// The last member: the sha256 of everything before it.
pub const TRAILER: &str = "bundle.sha256";
/// Bytes of the canonical trailer: its header, one data block, two zero blocks.
pub const TRAILER_LEN: u64 = 2048;
/// How an age file starts.
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
const BLOCK: u64 = 512;

/// One member of a bundle (besides the manifest and the trailer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Member {
    /// File name in the bundle and in the unpacked set (`env`, `db.sql.zst`, …).
    pub name: String,
    /// sha256 of the member's bytes.
    pub sha256: String,
    pub bytes: u64,
}

/// `manifest.json`, the bundle's first member: what was exported, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Manifest {
    /// `dfkit-bundle/1`.
    pub format: String,
    pub created_at: String,
    /// The old host.
    pub host: String,
    /// The install exported.
    pub root: String,
    /// DB_CONNECTION of the old instance (`sqlite`, `mysql`, `pgsql`, `sqlsrv`).
    pub driver: String,
    /// DreamFactory version (config/app.php) of the old instance.
    pub df_version: Option<String>,
    /// The old instance's git commit (null when it is not a git checkout).
    pub commit: Option<String>,
    /// Fingerprint of the old APP_KEY (`sha256:` + 12 hex).
    pub app_key_fingerprint: Option<String>,
    /// Names of the keys in the old .env (values stay in the `env` member).
    pub env_keys: Vec<String>,
    /// Rows per table at export time.
    pub row_counts: BTreeMap<String, u64>,
    /// The dump's file name among the members.
    pub dump: String,
    /// Every member but the manifest and the trailer, with its sha256.
    pub members: Vec<Member>,
    /// Tool name → version, for every tool that ran.
    pub tool_versions: BTreeMap<String, String>,
}

/// Whether a member name is one a bundle may hold: a plain file name of a set artifact.
pub fn valid_member_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn header(name: &str, size: u64, mtime: u64) -> std::io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o600);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

fn pad(w: &mut impl Write, size: u64) -> std::io::Result<()> {
    let rem = (BLOCK - size % BLOCK) % BLOCK;
    w.write_all(&vec![0u8; rem as usize])
}

/// The canonical trailer for `digest` (64 lowercase hex): the `bundle.sha256` member and
/// the end-of-archive blocks, 2048 bytes.
pub fn trailer(digest: &str) -> Vec<u8> {
    let body = format!("{digest}\n");
    let mut out = Vec::with_capacity(TRAILER_LEN as usize);
    let h = header(TRAILER, body.len() as u64, 0).expect("a short fixed name");
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(body.as_bytes());
    out.resize(TRAILER_LEN as usize, 0);
    out
}

/// Write the plaintext bundle to `out`: the manifest, each member of `manifest.members`
/// read from `dir`, then the trailer. Returns the bytes written.
pub fn write_tar(dir: &Path, manifest: &Manifest, out: impl Write) -> Result<u64> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("writing the bundle: {e}"));
    let mtime = chrono::Utc::now().timestamp().max(0) as u64;
    let mut w = Hashing {
        inner: out,
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut text = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::internal(format!("serialising the bundle manifest: {e}")))?;
    text.push(b'\n');
    w.write_all(
        header(MANIFEST, text.len() as u64, mtime)
            .map_err(io)?
            .as_bytes(),
    )
    .map_err(io)?;
    w.write_all(&text).map_err(io)?;
    pad(&mut w, text.len() as u64).map_err(io)?;
    for m in &manifest.members {
        let p = dir.join(&m.name);
        let mut f = File::open(&p).map_err(|e| Error::io("reading", &p, e))?;
        let h = header(&m.name, m.bytes, mtime).map_err(io)?;
        w.write_all(h.as_bytes()).map_err(io)?;
        // Exactly the recorded size: a file that changed since it was checksummed fails.
        let n = std::io::copy(&mut (&mut f).take(m.bytes), &mut w).map_err(io)?;
        if n != m.bytes {
            return Err(Error::internal(format!(
                "{} shrank while it was packed ({n} of {} bytes)",
                p.display(),
                m.bytes
            )));
        }
        pad(&mut w, m.bytes).map_err(io)?;
    }
    let digest = crate::checksum::hex(&w.hash.clone().finalize());
    w.inner.write_all(&trailer(&digest)).map_err(io)?;
    w.inner.flush().map_err(io)?;
    Ok(w.bytes + TRAILER_LEN)
}

/// Whether the file at `p` is age-encrypted (by its first bytes).
pub fn is_encrypted(p: &Path) -> Result<bool> {
    let mut f = File::open(p).map_err(|e| Error::io("opening the bundle", p, e))?;
    let mut head = [0u8; AGE_MAGIC.len()];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(Error::io("reading the bundle", p, e)),
        }
    }
    Ok(&head[..got] == AGE_MAGIC)
}

fn damaged(p: &Path, what: String) -> Error {
    Error::bad_data(format!("bundle {} is damaged: {what}", p.display())).with_hint(
        "the file changed after export or on the way: copy it again (df-migrate push checks \
         the copy), or export again on the old host",
    )
}

/// Check every byte of the plaintext bundle at `p` (65 on any difference); returns the
/// digest its trailer records.
pub fn verify(p: &Path) -> Result<String> {
    let mut f = File::open(p).map_err(|e| Error::io("opening the bundle", p, e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::io("reading the bundle", p, e))?
        .len();
    if len < TRAILER_LEN + 2 * BLOCK || len % BLOCK != 0 {
        return Err(damaged(
            p,
            format!("{len} bytes is not the size of a bundle (a multiple of 512, at least 3072)"),
        ));
    }
    let body = len - TRAILER_LEN;
    let mut tail = vec![0u8; TRAILER_LEN as usize];
    f.seek(SeekFrom::Start(body))
        .and_then(|_| f.read_exact(&mut tail))
        .map_err(|e| Error::io("reading the bundle", p, e))?;
    let recorded = &tail[BLOCK as usize..BLOCK as usize + 64];
    let digest = std::str::from_utf8(recorded)
        .ok()
        .filter(|d| d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| damaged(p, format!("no checksum in its trailer (at byte {body})")))?
        .to_string();
    if let Some(i) = trailer(&digest).iter().zip(&tail).position(|(a, b)| a != b) {
        return Err(damaged(
            p,
            format!("its trailer differs at byte {} (of {len})", body + i as u64),
        ));
    }
    f.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("reading the bundle", p, e))?;
    let (actual, n) = crate::checksum::sha256_reader(BufReader::new(f).take(body))
        .map_err(|e| Error::io("reading the bundle", p, e))?;
    if n != body || actual != digest {
        return Err(damaged(
            p,
            format!(
                "the sha256 of its first {body} bytes is {}…, the trailer records {}…",
                &actual[..12],
                &digest[..12]
            ),
        ));
    }
    Ok(digest)
}

/// Verify the plaintext bundle at `p`, then unpack its members into `into` (an existing
/// 0700 directory), each file 0600 and checked against the manifest. Returns the manifest.
pub fn unpack(p: &Path, into: &Path) -> Result<Manifest> {
    verify(p)?;
    let f = File::open(p).map_err(|e| Error::io("opening the bundle", p, e))?;
    let mut ar = tar::Archive::new(BufReader::new(f));
    let entries = ar.entries().map_err(|e| damaged(p, e.to_string()))?;
    let mut manifest: Option<Manifest> = None;
    let mut seen: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for (i, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| damaged(p, e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| damaged(p, e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular || !valid_member_name(&name) {
            return Err(damaged(
                p,
                format!("member {name:?} is not a plain file of a set"),
            ));
        }
        if name == TRAILER {
            break;
        }
        if i == 0 {
            if name != MANIFEST {
                return Err(damaged(
                    p,
                    format!("its first member is {name:?}, not {MANIFEST}"),
                ));
            }
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|e| damaged(p, e.to_string()))?;
            let m: Manifest = serde_json::from_slice(&text)
                .map_err(|e| damaged(p, format!("{MANIFEST} is not valid: {e}")))?;
            if m.format != FORMAT {
                return Err(Error::bad_data(format!(
                    "bundle {} is in format {:?}; this df-migrate reads {FORMAT}",
                    p.display(),
                    m.format
                ))
                .with_hint("use the df-migrate of the release that exported it"));
            }
            manifest = Some(m);
            continue;
        }
        if seen.contains_key(&name) || name == MANIFEST {
            return Err(damaged(p, format!("member {name:?} appears twice")));
        }
        let dest = into.join(&name);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&dest)
            .map_err(|e| Error::io("unpacking", &dest, e))?;
        let mut w = Hashing {
            inner: &mut out,
            hash: Sha256::new(),
            bytes: 0,
        };
        std::io::copy(&mut entry, &mut w).map_err(|e| Error::io("unpacking", &dest, e))?;
        let sha = crate::checksum::hex(&w.hash.finalize());
        let bytes = w.bytes;
        out.sync_all()
            .map_err(|e| Error::io("unpacking", &dest, e))?;
        seen.insert(name, (sha, bytes));
    }
    let m = manifest.ok_or_else(|| damaged(p, format!("it has no {MANIFEST}")))?;
    for member in &m.members {
        match seen.get(&member.name) {
            Some((sha, bytes)) if *sha == member.sha256 && *bytes == member.bytes => {}
            Some(_) => {
                return Err(damaged(
                    p,
                    format!(
                        "member {} does not match the manifest's sha256",
                        member.name
                    ),
                ))
            }
            None => return Err(damaged(p, format!("member {} is missing", member.name))),
        }
    }
    if let Some(extra) = seen
        .keys()
        .find(|n| !m.members.iter().any(|x| &x.name == *n))
    {
        return Err(damaged(p, format!("member {extra} is not in the manifest")));
    }
    Ok(m)
}

/// Parse an age X25519 recipient (`age1…`), 64 on a malformed one.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient> {
    s.trim().parse::<age::x25519::Recipient>().map_err(|e| {
        Error::usage(format!(
            "`{}` is not an age X25519 recipient: {e}",
            s.trim()
        ))
        .with_hint("give the public key that `age-keygen` printed (age1…)")
    })
}

/// Recipients from a file: one `age1…` a line; blank lines and `#` comments skipped.
pub fn read_recipients_file(p: &Path) -> Result<Vec<age::x25519::Recipient>> {
    let text = std::fs::read_to_string(p).map_err(|e| Error::io("reading recipients", p, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            parse_recipient(line).map_err(|e| e.context(format!("{}:{}", p.display(), n + 1)))?,
        );
    }
    if out.is_empty() {
        return Err(Error::usage(format!("{} holds no recipient", p.display()))
            .with_hint("one age1… public key a line"));
    }
    Ok(out)
}

/// Encrypt the file at `plain` for `recipients` into `dest` (atomically, 0600).
pub fn encrypt(plain: &Path, dest: &Path, recipients: &[age::x25519::Recipient]) -> Result<()> {
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| Error::usage(format!("age recipients: {e}")))?;
    let mut src = File::open(plain).map_err(|e| Error::io("reading", plain, e))?;
    let mut out = crate::atomic::AtomicFile::create(dest, 0o600)?;
    let io = |e: std::io::Error| Error::io("writing the bundle", dest, e);
    {
        let mut w = enc.wrap_output(&mut out).map_err(io)?;
        std::io::copy(&mut src, &mut w).map_err(io)?;
        w.finish().map_err(io)?;
    }
    out.commit()
}

/// The identities in an age identity file (as `age-keygen -o FILE` writes it).
pub fn read_identities(p: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    if !p.is_file() {
        return Err(Error::missing(format!(
            "no identity file at {}",
            p.display()
        )));
    }
    let f = age::IdentityFile::from_file(p.display().to_string())
        .map_err(|e| Error::io("reading the identity file", p, e))?;
    f.into_identities().map_err(|e| {
        Error::bad_data(format!("{} holds no usable age identity: {e}", p.display()))
            .with_hint("give the file `age-keygen -o FILE` wrote (AGE-SECRET-KEY-1…)")
    })
}

/// Decrypt the age file `src` with `identity` into a new file `dest` (0600).
pub fn decrypt(src: &Path, identity: &Path, dest: &Path) -> Result<()> {
    let ids = read_identities(identity)?;
    let f = File::open(src).map_err(|e| Error::io("opening the bundle", src, e))?;
    let dec =
        age::Decryptor::new_buffered(BufReader::new(f)).map_err(|e| age_error(src, identity, e))?;
    let mut r = dec
        .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| age_error(src, identity, e))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|e| Error::io("decrypting into", dest, e))?;
    std::io::copy(&mut r, &mut out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            damaged(src, format!("age refused its ciphertext ({e})"))
        } else {
            Error::io("decrypting", src, e)
        }
    })?;
    out.sync_all()
        .map_err(|e| Error::io("decrypting into", dest, e))
}

fn age_error(src: &Path, identity: &Path, e: age::DecryptError) -> Error {
    match e {
        age::DecryptError::NoMatchingKeys => Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "none of the identities in {} can open bundle {}",
                identity.display(),
                src.display()
            ),
        )
        .with_hint("give the identity whose public key the bundle was exported for (--recipient)"),
        age::DecryptError::Io(e) => Error::io("reading the bundle", src, e),
        other => damaged(src, format!("age: {other}")),
    }
}

/// An opened bundle: verified, unpacked into a directory laid out like a backup set.
#[derive(Debug)]
pub struct Opened {
    pub manifest: Manifest,
    pub encrypted: bool,
    /// The unpacked set (inside the temp dir).
    pub set: PathBuf,
    /// sha256 of the bundle file as given (ciphertext when encrypted).
    pub sha256: String,
    pub bytes: u64,
    /// Holds the plaintext; removed when dropped.
    pub tmp: tempfile::TempDir,
}

/// Open the bundle at `p`: decrypt it (with `identity`) when it is encrypted, verify
/// every byte, unpack it into a fresh 0700 temp dir under `tmp_parent`.
pub fn open(p: &Path, identity: Option<&Path>, tmp_parent: &Path) -> Result<Opened> {
    if !p.is_file() {
        return Err(Error::missing(format!("no bundle at {}", p.display()))
            .with_hint("export one on the old host: df-migrate export --into FILE"));
    }
    let (sha256, bytes) =
        crate::checksum::sha256_file(p).map_err(|e| Error::io("reading the bundle", p, e))?;
    let encrypted = is_encrypted(p)?;
    let tmp = private_tempdir(tmp_parent)?;
    let set = tmp.path().join("set");
    std::fs::create_dir(&set).map_err(|e| Error::io("creating", &set, e))?;
    let plain = if encrypted {
        let Some(identity) = identity else {
            return Err(Error::usage(format!(
                "bundle {} is encrypted; pass --identity KEYFILE",
                p.display()
            ))
            .with_hint(
                "the age identity file whose public key was given to `export --recipient`",
            ));
        };
        let plain = tmp.path().join("bundle.tar");
        decrypt(p, identity, &plain)?;
        plain
    } else {
        p.to_path_buf()
    };
    let manifest = unpack(&plain, &set)?;
    if encrypted {
        let _ = std::fs::remove_file(&plain);
    }
    Ok(Opened {
        manifest,
        encrypted,
        set,
        sha256,
        bytes,
        tmp,
    })
}

/// A fresh temp dir (0700) under `parent`, created 0700 if missing; removed on drop.
///
/// Its name, `.df-migrate.dfkit-tmp.<pid>.<n>`, is one [`crate::atomic::sweep_stale`]
/// knows: the dirs of runs killed before they could drop theirs (an export's set, an
/// import's staging set, a decrypted bundle) are swept from `parent` first.
pub fn private_tempdir(parent: &Path) -> Result<tempfile::TempDir> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    use std::os::unix::fs::DirBuilderExt;
    if !parent.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::io("creating", parent, e))?;
    }
    crate::atomic::sweep_stale(parent);
    let t = loop {
        // A name taken (by a dead run with our pid, which no sweep may judge) → the next.
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match tempfile::Builder::new()
            .prefix(&format!(".df-migrate.dfkit-tmp.{}.{n}", std::process::id()))
            .rand_bytes(0)
            .tempdir_in(parent)
        {
            Ok(t) => break t,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {}
            Err(e) => return Err(Error::io("creating a temp dir in", parent, e)),
        }
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("protecting", t.path(), e))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> Manifest {
        std::fs::write(dir.join("env"), "APP_KEY=base64:abc\n").unwrap();
        std::fs::write(dir.join("db.sql"), vec![b'x'; 1000]).unwrap();
        let members = ["env", "db.sql"]
            .iter()
            .map(|n| {
                let (sha256, bytes) = crate::checksum::sha256_file(&dir.join(n)).unwrap();
                Member {
                    name: n.to_string(),
                    sha256,
                    bytes,
                }
            })
            .collect();
        Manifest {
            format: FORMAT.into(),
            driver: "sqlite".into(),
            dump: "db.sql".into(),
            members,
            ..Default::default()
        }
    }

    #[test]
    fn every_byte_is_checked() {
        let d = tempfile::tempdir().unwrap();
        let m = sample(d.path());
        let b = d.path().join("b.tar");
        let n = write_tar(d.path(), &m, File::create(&b).unwrap()).unwrap();
        let bytes = std::fs::read(&b).unwrap();
        assert_eq!(n, bytes.len() as u64);
        verify(&b).unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        assert_eq!(unpack(&b, &out).unwrap(), m);
        assert_eq!(std::fs::read(out.join("db.sql")).unwrap(), vec![b'x'; 1000]);
        // Flip each byte in turn (a stride keeps the test fast): always detected.
        for i in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            std::fs::write(&b, &bad).unwrap();
            let e = verify(&b).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadData, "byte {i}");
        }
        // Anything appended, even zero blocks, is refused.
        let mut more = bytes.clone();
        more.extend_from_slice(&[0u8; 512]);
        std::fs::write(&b, &more).unwrap();
        assert_eq!(verify(&b).unwrap_err().kind, ErrorKind::BadData);
    }

    #[test]
    fn a_bundle_is_a_tar_others_can_list() {
        let d = tempfile::tempdir().unwrap();
        let m = sample(d.path());
        let mut buf = Vec::new();
        write_tar(d.path(), &m, &mut buf).unwrap();
        let mut ar = tar::Archive::new(&buf[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, [MANIFEST, "env", "db.sql", TRAILER]);
    }

    #[test]
    fn encrypted_round_trip_and_wrong_identity() {
        let d = tempfile::tempdir().unwrap();
        let m = sample(d.path());
        let plain = d.path().join("p.tar");
        write_tar(d.path(), &m, File::create(&plain).unwrap()).unwrap();
        let id = age::x25519::Identity::generate();
        let key = d.path().join("key.txt");
        use age::secrecy::ExposeSecret;
        std::fs::write(&key, format!("{}\n", id.to_string().expose_secret())).unwrap();
        let enc = d.path().join("b.age");
        encrypt(&plain, &enc, &[id.to_public()]).unwrap();
        assert!(is_encrypted(&enc).unwrap() && !is_encrypted(&plain).unwrap());
        let o = open(&enc, Some(&key), d.path()).unwrap();
        assert!(o.encrypted);
        assert_eq!(o.manifest, m);
        assert_eq!(
            open(&enc, None, d.path()).unwrap_err().kind,
            ErrorKind::Usage
        );
        let other = age::x25519::Identity::generate();
        std::fs::write(&key, format!("{}\n", other.to_string().expose_secret())).unwrap();
        assert_eq!(
            open(&enc, Some(&key), d.path()).unwrap_err().kind,
            ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn member_names() {
        assert!(valid_member_name("db.sql.zst") && valid_member_name("env.meta.json"));
        for bad in ["", ".env", "../x", "a/b", "x y"] {
            assert!(!valid_member_name(bad), "{bad}");
        }
    }
}
