//! `composer-install` and `repair` (the guide's troubleshooting: composer clear-cache,
//! remove vendor/, the compiled/cached files and storage/framework/cache/*, reinstall).

use super::runner::Runner;
use super::{output, ComposerFlags};
use crate::error::{Error, Result};
use crate::fsops::{empty_dir_keep_gitignore, remove_any};
use crate::report::data::artisan::{ComposerInstallData, ComposerResult, RepairData};
use std::path::Path;

/// `composer-install`.
pub(super) fn install_cmd(
    r: &mut Runner,
    d: &mut ComposerInstallData,
    f: &ComposerFlags,
) -> Result<(bool, String)> {
    match &f.staged {
        Some(dir) => swap_in(r, &mut d.composer_install, dir),
        None => install(r, &mut d.composer_install, f),
    }
}

/// The files of bootstrap/cache/ that composer's scripts write for a vendor/ (Laravel's
/// `package:discover`): taken from the stage along with its vendor/ when it has them.
const STAGED_CACHES: [&str; 2] = [
    "bootstrap/cache/packages.php",
    "bootstrap/cache/services.php",
];

/// `composer-install --staged DIR`: swap in a vendor/ that `composer install` built in an
/// export of this release before the maintenance window. Two renames on one filesystem;
/// the replaced vendor/ goes to `DIR/vendor.replaced`. Refused (65, nothing changed) when
/// DIR's composer.lock is not byte for byte this install's, when DIR has no built vendor/,
/// or when DIR is on another filesystem: run composer-install without --staged then.
fn swap_in(r: &mut Runner, d: &mut ComposerResult, dir: &Path) -> Result<(bool, String)> {
    use std::os::unix::fs::MetadataExt;
    let root = r.root.clone();
    let staged_vendor = dir.join("vendor");
    let refuse = |what: String| {
        Err(Error::bad_data(what).with_hint(
            "run `df-artisan composer-install` without --staged (composer installs in place)",
        ))
    };
    if !staged_vendor.join("autoload.php").is_file() {
        return refuse(format!(
            "{} has no vendor/autoload.php: nothing was built there",
            dir.display()
        ));
    }
    let lock = |p: &Path| std::fs::read(p.join("composer.lock")).ok();
    match (lock(&root), lock(dir)) {
        (Some(a), Some(b)) if a == b => {}
        (None, _) => return refuse(format!("{} has no composer.lock", root.display())),
        _ => {
            return refuse(format!(
                "{}'s vendor/ was built for another composer.lock than {}'s",
                dir.display(),
                root.display()
            ))
        }
    }
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    if dev(dir).is_none() || dev(dir) != dev(&root) {
        return refuse(format!(
            "{} is not on the filesystem of {}: vendor/ cannot be renamed across",
            dir.display(),
            root.display()
        ));
    }
    let vendor = root.join("vendor");
    let replaced = dir.join("vendor.replaced");
    if std::fs::symlink_metadata(&replaced).is_ok() {
        return refuse(format!("{} already exists", replaced.display()));
    }
    if r.dry_run {
        r.plan_fs(
            "replace",
            &vendor,
            &format!("with {} (built before the window)", staged_vendor.display()),
        );
        return Ok((true, format!("would swap in {}", staged_vendor.display())));
    }
    let had_vendor = std::fs::symlink_metadata(&vendor).is_ok();
    if had_vendor {
        std::fs::rename(&vendor, &replaced).map_err(|e| Error::io("moving aside", &vendor, e))?;
    }
    if let Err(e) = std::fs::rename(&staged_vendor, &vendor) {
        if had_vendor && std::fs::rename(&replaced, &vendor).is_err() {
            return Err(
                Error::io("swapping in", &staged_vendor, e).with_hint(format!(
                    "vendor/ is at {}: move it back to {}",
                    replaced.display(),
                    vendor.display()
                )),
            );
        }
        return Err(Error::io("swapping in", &staged_vendor, e));
    }
    r.record_fs("swap in", &vendor);
    r.c.changed = true;
    for rel in STAGED_CACHES {
        let src = dir.join(rel);
        if let Ok(bytes) = std::fs::read(&src) {
            let dst = root.join(rel);
            let mode = std::fs::metadata(&dst)
                .or_else(|_| std::fs::metadata(&src))
                .map(|m| m.mode() & 0o7777)
                .unwrap_or(0o644);
            crate::atomic::write_file(&dst, &bytes, mode)?;
            r.record_fs("copy from the stage", &dst);
        }
    }
    d.installed = true;
    d.vendor_created = !had_vendor;
    d.staged = Some(dir.display().to_string());
    Ok((
        true,
        format!(
            "vendor/ swapped in from {} (composer install ran there before the window)",
            dir.display()
        ),
    ))
}

/// `composer install --no-dev --ignore-platform-reqs` (by default), checked: vendor/
/// must have its autoloader afterwards.
pub(super) fn install(
    r: &mut Runner,
    d: &mut ComposerResult,
    f: &ComposerFlags,
) -> Result<(bool, String)> {
    // composer has no way to take an argument but argv, which every user can read.
    if super::mask_secret_args(&f.extra) != f.extra {
        return Err(Error::usage(
            "a secret-bearing option among composer's arguments would be visible in the process list",
        )
        .with_hint(
            "give composer credentials through auth.json or the COMPOSER_AUTH environment variable",
        ));
    }
    let had_autoload = r.root.join("vendor/autoload.php").is_file();
    let had_lock = r.root.join("composer.lock").is_file();
    let mut args = vec!["install".to_string()];
    if !f.dev {
        args.push("--no-dev".into());
    }
    if !f.platform_reqs {
        args.push("--ignore-platform-reqs".into());
    }
    args.push("--no-progress".into());
    args.extend(f.extra.iter().cloned());
    let Some(out) = r.composer_unchecked("composer install", &args)? else {
        return Ok((true, "would run composer install".into()));
    };
    // Also after a failure: composer may have written composer.lock or part of vendor/.
    d.lock_created = !had_lock && r.root.join("composer.lock").is_file();
    d.vendor_created = !had_autoload && r.root.join("vendor/autoload.php").is_file();
    d.operations = output::parse_composer(&out.combined()).operations;
    if !out.success() {
        r.c.changed |= d.lock_created || d.vendor_created || !d.operations.is_empty();
        return Err(r.composer_failure("composer install", &args, &out));
    }
    if !r.root.join("vendor/autoload.php").is_file() {
        return Err(
            Error::step("composer install succeeded but vendor/autoload.php is missing")
                .with_hint("check composer.json's vendor-dir and autoload settings"),
        );
    }
    d.installed = true;
    let changed = d.vendor_created || d.lock_created || !d.operations.is_empty();
    let msg = if changed {
        format!(
            "composer install: {} package operation(s){}",
            d.operations.len(),
            if had_autoload {
                ""
            } else {
                ", vendor/ created"
            }
        )
    } else {
        "composer install: nothing to install".into()
    };
    Ok((changed, msg))
}

pub(super) fn repair(
    r: &mut Runner,
    d: &mut RepairData,
    f: &ComposerFlags,
) -> Result<(bool, String)> {
    r.require_artisan()?;
    r.composer("composer clear-cache", &["clear-cache".to_string()])?;
    // Caches first: they only ever get rebuilt.
    for rel in [
        "bootstrap/cache/compiled.php",
        "bootstrap/cache/services.php",
        "bootstrap/cache/packages.php",
    ] {
        let p = r.root.join(rel);
        if std::fs::symlink_metadata(&p).is_ok() {
            if r.dry_run {
                r.plan_fs("remove", &p, "a compiled/cached file, rebuilt on demand");
            } else {
                std::fs::remove_file(&p).map_err(|e| Error::io("removing", &p, e))?;
                r.record_fs("remove", &p);
                d.removed.push(p.display().to_string());
                r.c.changed = true;
            }
        }
    }
    let cache = r.root.join("storage/framework/cache");
    if r.dry_run {
        r.plan_fs("remove", &cache, "everything in it but .gitignore");
    } else {
        let n = empty_dir_keep_gitignore(&cache)?;
        r.record_fs("empty (keeping .gitignore)", &cache);
        d.cache_entries_removed = n;
        r.c.changed |= n > 0;
    }
    // vendor/ is moved aside, not deleted, so a failed reinstall can put it back:
    // a repair must not leave the site worse than it found it.
    let vendor = r.root.join("vendor");
    let aside = r
        .root
        .join(format!(".vendor.dfkit-old.{}", std::process::id()));
    let had_vendor = std::fs::symlink_metadata(&vendor).is_ok();
    if had_vendor {
        if r.dry_run {
            r.plan_fs(
                "remove",
                &vendor,
                "moved aside, removed once the reinstall succeeded",
            );
        } else {
            std::fs::rename(&vendor, &aside).map_err(|e| Error::io("moving aside", &vendor, e))?;
            r.record_fs("move aside", &vendor);
            d.vendor_moved_aside = true;
        }
    }
    match install(r, &mut d.composer_install, f) {
        Ok(_) if r.dry_run => Ok((
            true,
            "would remove caches and vendor/, then reinstall".into(),
        )),
        Ok(_) => {
            if had_vendor {
                remove_any(&aside)?;
                r.record_fs("remove old", &aside);
            }
            Ok((true, "repaired: caches removed, vendor/ reinstalled".into()))
        }
        Err(e) => {
            if had_vendor {
                let _ = remove_any(&vendor);
                if std::fs::rename(&aside, &vendor).is_ok() {
                    r.record_fs("restore old", &vendor);
                    d.vendor_restored = true;
                } else {
                    d.old_vendor_left_at = Some(aside.display().to_string());
                }
            }
            let removed = d.removed.len() as u64 + d.cache_entries_removed;
            // What the failed install did to vendor/ is undone when the old one is back.
            let ci = &d.composer_install;
            let vendor_touched = ci.vendor_created || !ci.operations.is_empty();
            r.c.changed = removed > 0
                || ci.lock_created
                || d.old_vendor_left_at.is_some()
                || (vendor_touched && !d.vendor_restored);
            let what = if removed > 0 {
                format!("removed {removed} cache file(s)/entries, then ")
            } else {
                String::new()
            };
            let vendor_note = if d.vendor_restored {
                "; the old vendor/ was put back"
            } else if d.old_vendor_left_at.is_some() {
                "; the old vendor/ could not be put back (see old_vendor_left_at)"
            } else {
                ""
            };
            Err(Error {
                message: format!("repair {what}{}{vendor_note}", e.message),
                ..e
            })
        }
    }
}
