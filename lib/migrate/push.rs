//! `df-migrate push FILE --to URL`: copy a bundle to the new host and check it there.

use crate::error::{Error, Result};
use crate::report::data::migrate::PushData;
use crate::report::{Ctx, Outcome, PlanItem};
use crate::transfer::{self, SshOptions, Target};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Copy `bundle` to `to`, compare the far side's sha256 with ours; on a mismatch remove
/// the remote copy and exit 65.
pub fn push(
    ctx: &Ctx,
    bundle: &Path,
    to: &str,
    ssh: &SshOptions,
    timeout: Duration,
) -> Result<Outcome> {
    let target = Target::parse(to)?;
    if !bundle.is_file() {
        return Err(Error::missing(format!("no bundle at {}", bundle.display()))
            .with_hint("export one first: df-migrate export --into FILE"));
    }
    // An absolute path: scp, docker cp and kubectl cp read a relative `a:b` as remote.
    let local = std::fs::canonicalize(bundle).map_err(|e| Error::io("resolving", bundle, e))?;
    let cmds = transfer::commands(&target, &local, ssh, timeout)?;
    let mut data = PushData {
        bundle: bundle.display().to_string(),
        to: to.to_string(),
        scheme: target.scheme().into(),
        remote_path: target.path().into(),
        ..Default::default()
    };
    let (sha, _) =
        crate::checksum::sha256_file(bundle).map_err(|e| Error::io("reading", bundle, e))?;
    data.sha256 = sha.clone();
    data.plan = vec![
        PlanItem::run(cmds.copy.display(), "copy the bundle"),
        PlanItem::run(
            cmds.checksum.display(),
            "sha256 on the far side, compared with ours",
        ),
    ];
    if ctx.dry_run() {
        let msg = format!(
            "would copy {} to {to} and check its sha256 there",
            bundle.display()
        );
        return Ok(Outcome::typed(true, msg, &data));
    }
    let fail =
        |data: &PushData, e: Error| e.with_data(serde_json::to_value(data).unwrap_or(Value::Null));
    ctx.log(format!("copying {} to {to}", bundle.display()));
    let out = cmds.copy.run()?;
    if !out.success() {
        let e = transfer::remote_failed("the copy", &cmds.copy, &out);
        return Err(fail(&data, e));
    }
    let out = cmds.checksum.run()?;
    let remote = transfer::parse_sha256sum(&out.stdout_str());
    let Some(remote) = remote.filter(|_| out.success()) else {
        let e = transfer::remote_failed("sha256sum on the far side", &cmds.checksum, &out);
        return Err(fail(&data, e));
    };
    data.remote_sha256 = Some(remote.clone());
    if remote != sha {
        data.plan.push(PlanItem::run(
            cmds.remove.display(),
            "remove the damaged copy",
        ));
        let rm = cmds.remove.run();
        data.removed = matches!(&rm, Ok(o) if o.success());
        let e = Error::bad_data(format!(
            "the copy at {to} has sha256 {}…, the bundle {}…: it was damaged on the way{}",
            &remote[..12],
            &sha[..12],
            if data.removed {
                "; the remote copy was removed"
            } else {
                "; removing the remote copy FAILED, remove it by hand"
            }
        ))
        .with_hint("push again; if it happens again, check the disk and the network path");
        return Err(fail(&data, e));
    }
    data.verified = true;
    let msg = format!(
        "copied {} to {to}; sha256 {} verified on the far side",
        bundle.display(),
        &sha[..12]
    );
    ctx.log(&msg);
    Ok(Outcome::typed(true, msg, &data))
}
