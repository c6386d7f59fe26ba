//! `df-dump-db verify`.

use super::codec::open_decoder;
use super::stored::{check_sha, open_stored};
use super::trailer::{trailer_name, trailer_ok, Tail};
use crate::db::Driver;
use crate::error::{Error, Result};
use crate::report::data::dump::VerifyData;
use crate::report::{Ctx, Outcome};
use std::io::Read;
use std::path::Path;

/// `df-dump-db verify`: checksum, full decompression, trailer — no database needed.
pub fn verify(_ctx: &Ctx, from: &Path) -> Result<Outcome> {
    let st = open_stored(from)?;
    let sha = check_sha(&st)?;
    let mut raw: u64 = 0;
    let mut trailer = true;
    if st.driver != Driver::Sqlsrv {
        let mut r = open_decoder(&st.path, st.compression)?;
        let mut tail = Tail::new(8192);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    raw += n as u64;
                    tail.push(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::bad_data(format!(
                        "{} does not decompress: {e}",
                        st.path.display()
                    )))
                }
            }
        }
        trailer = trailer_ok(st.driver, &tail.buf);
        if !trailer {
            return Err(Error::bad_data(format!(
                "{} is truncated: no {} at its end",
                st.path.display(),
                trailer_name(st.driver)
            )));
        }
        // 0: a meta that did not record it.
        let want = st.meta.uncompressed_bytes;
        {
            if want != 0 && want != raw {
                return Err(Error::bad_data(format!(
                    "{} decompresses to {raw} bytes, db.meta.json says {want}",
                    st.path.display()
                )));
            }
        }
    }
    let data = VerifyData {
        path: st.path.clone(),
        artifact: st.artifact.clone(),
        driver: Some(st.driver),
        sha256: sha,
        sha256_ok: true,
        bytes: st.meta.bytes,
        uncompressed_bytes: if st.driver == Driver::Sqlsrv {
            st.meta.bytes
        } else {
            raw
        },
        trailer_verified: trailer,
        compression: st.compression.as_str().to_string(),
    };
    Ok(Outcome::typed(
        false,
        format!("{} is intact ({} bytes)", st.path.display(), st.meta.bytes),
        &data,
    ))
}
