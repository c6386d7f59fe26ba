//! Whether the application's own code (app/) names something artisan would hand it: an
//! event a listener could handle, a config key a provider could override. A direct path
//! (`down`, `up`, `clear` without booting Laravel) is taken only when it does not.

use std::path::Path;

/// Some .php file under ROOT/app names one of `needles` (bytes, case-sensitive). A file
/// that cannot be read counts as naming them: the caller then boots the application.
pub(super) fn mentions(root: &Path, needles: &[&[u8]]) -> bool {
    fn walk(dir: &Path, depth: u32, needles: &[&[u8]]) -> bool {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return false;
        };
        rd.flatten().any(|e| {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() && depth < 12 => walk(&p, depth + 1, needles),
                Ok(t) if t.is_file() && p.extension().is_some_and(|x| x == "php") => {
                    std::fs::read(&p).map_or(true, |b| {
                        needles
                            .iter()
                            .any(|n| memchr::memmem::find(&b, n).is_some())
                    })
                }
                _ => false,
            }
        })
    }
    walk(&root.join("app"), 0, needles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_needle_in_a_nested_php_file_only() {
        let t = tempfile::tempdir().unwrap();
        let l = t.path().join("app/Listeners/Deep");
        std::fs::create_dir_all(&l).unwrap();
        std::fs::write(l.join("A.php"), "<?php // nothing here\n").unwrap();
        std::fs::write(l.join("notes.txt"), "cache:cleared\n").unwrap();
        assert!(!mentions(t.path(), &[b"cache:cleared"]));
        std::fs::write(
            l.join("B.php"),
            "<?php Event::listen('cache:cleared', …);\n",
        )
        .unwrap();
        assert!(mentions(t.path(), &[b"MaintenanceMode", b"cache:cleared"]));
        assert!(!mentions(t.path(), &[b"MaintenanceMode"]));
        assert!(!mentions(&t.path().join("none"), &[b"x"]));
    }
}
