//! APP_KEY validity, differentially against Laravel itself: for each .env and
//! config/app.php, Debian's Laravel 8 loads the .env the way Laravel boots
//! (`Dotenv::create(Env::getRepository(), …)`), runs the real EncryptionServiceProvider
//! and builds the encrypter; df-backup-env must call the key valid exactly when Laravel
//! builds it, and `save` must refuse (65) exactly the keys Laravel refuses.

mod support;

use std::fs;
use std::process::Command;
use support::bins::run;

const ORACLE: &str = r#"<?php
set_include_path('/usr/share/php');
require '/usr/share/php/Illuminate/autoload.php';
use Illuminate\Support\Env;
$dir = $argv[1];
// What Laravel's LoadEnvironmentVariables does, then the real EncryptionServiceProvider.
Dotenv\Dotenv::create(Env::getRepository(), $dir)->safeLoad();
$app = new Illuminate\Container\Container();
$app->instance('config', new Illuminate\Config\Repository(['app' => require "$dir/config/app.php"]));
(new Illuminate\Encryption\EncryptionServiceProvider($app))->register();
try {
    $app->make('encrypter');
    echo json_encode(['ok' => true]);
} catch (\Throwable $t) {
    echo json_encode(['ok' => false, 'error' => get_class($t) . ': ' . $t->getMessage()]);
}
"#;

const ENV_CIPHER: &str = "env('APP_CIPHER', 'AES-256-CBC')";

fn b64(n: usize) -> String {
    // n bytes of a fixed pattern, standard base64 with padding.
    let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let v = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(table[(v >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// (APP_KEY line(s) of the .env, the `'cipher' =>` expression of config/app.php)
fn cases() -> Vec<(String, &'static str)> {
    let k32 = b64(32);
    let k16 = b64(16);
    let k24 = b64(24);
    let raw16 = "0123456789abcdef";
    let raw32 = "0123456789abcdef0123456789abcdef";
    vec![
        (format!("APP_KEY=base64:{k32}"), ENV_CIPHER),
        (format!("APP_KEY=base64:{k24}"), ENV_CIPHER),
        (format!("APP_KEY=base64:{k16}"), ENV_CIPHER),
        (
            format!("APP_KEY=base64:{k16}\nAPP_CIPHER=AES-128-CBC"),
            ENV_CIPHER,
        ),
        (
            format!("APP_KEY=base64:{k16}\nAPP_CIPHER=AES-256-CBC"),
            ENV_CIPHER,
        ),
        (
            format!("APP_KEY={raw16}\nAPP_CIPHER=AES-256-CBC"),
            ENV_CIPHER,
        ),
        (
            format!("APP_KEY={raw16}\nAPP_CIPHER=AES-128-CBC"),
            ENV_CIPHER,
        ),
        (
            format!("APP_KEY={raw16}\nAPP_CIPHER=aes-128-gcm"),
            ENV_CIPHER,
        ),
        (format!("APP_KEY={raw32}"), ENV_CIPHER),
        (
            format!("APP_KEY={raw32}\nAPP_CIPHER=AES-256-GCM"),
            ENV_CIPHER,
        ),
        (
            format!("APP_KEY={raw32}\nAPP_CIPHER=AES-192-CBC"),
            ENV_CIPHER,
        ),
        (format!("APP_KEY=\"base64: {k32}\""), ENV_CIPHER),
        (format!("APP_KEY=\"base64:{k32}  \""), ENV_CIPHER),
        (
            format!("APP_KEY=base64:{}", k32.trim_end_matches('=')),
            ENV_CIPHER,
        ),
        (
            format!("APP_KEY=base64:{}", k32.replace('+', "-").replace('/', "_")),
            ENV_CIPHER,
        ),
        (format!("APP_KEY='\"{raw32}\"'"), ENV_CIPHER),
        (
            format!("APP_KEY=base64:{k32}\nAPP_CIPHER=AES-256-CBC"),
            "'AES-128-CBC'",
        ),
        (
            format!("APP_KEY=base64:{k16}\nAPP_CIPHER=AES-256-CBC"),
            "'AES-128-CBC'",
        ),
        (format!("APP_KEY=base64:{k32}"), "'AES-256-CBC'"),
        ("APP_KEY=base64:!!!!".to_string(), ENV_CIPHER),
        ("APP_KEY=null".to_string(), ENV_CIPHER),
        ("APP_KEY=0".to_string(), ENV_CIPHER),
        ("APP_KEY=".to_string(), ENV_CIPHER),
        ("APP_NAME=no-key".to_string(), ENV_CIPHER),
        ("APP_KEY=(true)".to_string(), ENV_CIPHER),
    ]
}

#[test]
fn app_key_validity_matches_laravels_encrypter() {
    assert!(
        std::path::Path::new("/usr/share/php/Illuminate/Encryption/Encrypter.php").exists(),
        "Laravel is part of the test bed (apt-get install php-cli php-laravel-framework)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let oracle = tmp.path().join("oracle.php");
    fs::write(&oracle, ORACLE).unwrap();
    let mut bad = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (i, (env, cipher)) in cases().into_iter().enumerate() {
        let root = tmp.path().join(i.to_string());
        fs::create_dir_all(root.join("config")).unwrap();
        fs::write(root.join(".env"), format!("{env}\nDB_CONNECTION=sqlite\n")).unwrap();
        fs::write(
            root.join("config/app.php"),
            format!("<?php\n\nreturn [\n    'key' => env('APP_KEY'),\n\n    'cipher' => {cipher},\n];\n"),
        )
        .unwrap();
        let out = Command::new("php")
            .arg(&oracle)
            .arg(&root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let laravel: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let laravel_ok = laravel["ok"] == true;
        if laravel_ok {
            valid += 1;
        } else {
            invalid += 1;
        }

        let r = run("df-backup-env", ["--root", root.to_str().unwrap(), "show"]);
        r.assert_ok();
        let ours = r.data()["app_key_valid"] == true;
        let set = root.join("set");
        let s = run(
            "df-backup-env",
            [
                "--root",
                root.to_str().unwrap(),
                "save",
                "--into",
                set.to_str().unwrap(),
            ],
        );
        let saved = s.code == 0;
        if ours != laravel_ok || saved != laravel_ok {
            bad.push(format!(
                "#{i} {env:?} with 'cipher' => {cipher}: Laravel {laravel}, show app_key_valid={ours} ({}), save exit {}",
                r.json["warnings"], s.code
            ));
        }
        if !saved {
            s.assert_code(65);
        }
    }
    assert!(
        valid >= 8 && invalid >= 8,
        "both outcomes represented: {valid} / {invalid}"
    );
    assert!(bad.is_empty(), "differs from Laravel:\n{}", bad.join("\n"));
}
