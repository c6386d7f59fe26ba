//! Differential test: dfkit's .env parser against the real phpdotenv (Debian's 5.x, the
//! parser Laravel uses), over a hand-written corpus and proptest-generated files, plus
//! files dfkit itself edited. Same accept/reject, same values, byte for byte.
//!
//! php runs once per batch: every input is written to its own directory, one PHP script
//! loads them all and prints one JSON line per input.

use dfkit::envfile::EnvFile;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const ORACLE: &str = r#"<?php
set_include_path('/usr/share/php');
require '/usr/share/php/Illuminate/autoload.php';
use Dotenv\Dotenv;
use Dotenv\Parser\Parser;
use Dotenv\Repository\RepositoryBuilder;
use Dotenv\Repository\Adapter\ArrayAdapter;
use Dotenv\Util\Str;
[$_, $base, $n] = $argv;
for ($i = 0; $i < (int) $n; $i++) {
    $dir = "$base/$i";
    // What createArrayBacked() builds, kept in hand so we can read the final values.
    $repo = RepositoryBuilder::createWithNoAdapters()->addAdapter(ArrayAdapter::class)->make();
    try {
        Dotenv::create($repo, $dir)->load();
        $content = Str::utf8(file_get_contents("$dir/.env"))->success()->get();
        $vars = [];
        foreach ((new Parser())->parse($content) as $entry) {
            $name = $entry->getName();
            $v = $repo->get($name);
            if ($v !== null) {
                $vars[(string) $name] = bin2hex($v);
            }
        }
        $out = ['ok' => true, 'vars' => (object) $vars];
    } catch (\Throwable $t) {
        $out = ['ok' => false, 'error' => get_class($t) . ': ' . $t->getMessage()];
    }
    echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE), "\n";
}
"#;

/// What a parser made of one file: Err(()) when rejected, else the final variables.
type Outcome = Result<BTreeMap<String, Vec<u8>>, String>;

fn php_batch(inputs: &[Vec<u8>]) -> Vec<Outcome> {
    assert!(
        std::path::Path::new("/usr/share/php/Dotenv/Dotenv.php").exists(),
        "phpdotenv is part of the test bed (apt-get install php-cli php-laravel-framework)"
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, bytes) in inputs.iter().enumerate() {
        let d = dir.path().join(i.to_string());
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join(".env"), bytes).unwrap();
    }
    let script = dir.path().join("oracle.php");
    std::fs::write(&script, ORACLE).unwrap();
    let out = Command::new("php")
        .arg(&script)
        .arg(dir.path())
        .arg(inputs.len().to_string())
        .output()
        .expect("run php");
    assert!(
        out.status.success(),
        "php failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let res: Vec<Outcome> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["ok"] == true {
                Ok(v["vars"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, h)| (k.clone(), unhex(h.as_str().unwrap())))
                    .collect())
            } else {
                Err(v["error"].as_str().unwrap_or("").to_string())
            }
        })
        .collect();
    assert_eq!(res.len(), inputs.len(), "one line per input");
    res
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

fn ours(bytes: &[u8]) -> Outcome {
    match EnvFile::parse_inner(bytes) {
        Ok(e) => Ok(e
            .vars()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
            .collect()),
        Err(e) => Err(format!("line {}: {}", e.line, e.message)),
    }
}

/// Compare every input; panic listing the first mismatches.
fn differential(inputs: &[Vec<u8>]) {
    let php = php_batch(inputs);
    let mut bad = Vec::new();
    for (i, (input, theirs)) in inputs.iter().zip(&php).enumerate() {
        let mine = ours(input);
        let same = match (&mine, theirs) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            bad.push(format!(
                "#{i} input {:?}\n  phpdotenv: {:?}\n  dfkit:     {:?}",
                String::from_utf8_lossy(input),
                show(theirs),
                show(&mine)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} inputs differ:\n{}",
        bad.len(),
        inputs.len(),
        bad.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn show(o: &Outcome) -> String {
    match o {
        Ok(m) => format!(
            "{:?}",
            m.iter()
                .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v).into_owned()))
                .collect::<Vec<_>>()
        ),
        Err(e) => format!("REJECTED ({e})"),
    }
}

/// A realistic DreamFactory .env: section comments, commented-out defaults, quoting,
/// export, duplicates.
pub const DREAMFACTORY_ENV: &str = "\
##==============================================================================
## Environment Settings
##==============================================================================
APP_NAME=DreamFactory
APP_ENV=local
APP_KEY=base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=
APP_DEBUG=false
APP_LOG=single
#APP_LOG_LEVEL=warning
APP_URL=http://127.0.0.1
APP_TIMEZONE=UTC

##------------------------------------------------------------------------------
## Database Settings
##------------------------------------------------------------------------------
## Options: sqlite, mysql, pgsql, sqlsrv
DB_CONNECTION=mysql
DB_HOST=127.0.0.1
DB_PORT=3306
DB_DATABASE=dreamfactory
DB_USERNAME=df_admin
DB_PASSWORD=\"s3cr#t pass\\\"word\"
#DB_CHARSET=utf8
#DB_COLLATION=utf8_unicode_ci
DF_SQLITE_STORAGE='storage/databases'
export DF_INSTALL=GitHub
CACHE_DRIVER=file
CACHE_STORE=file
DF_CACHE_PATH=\"${APP_URL}/cache\" # expanded
DF_LICENSE_KEY=
APP_DEBUG=true
DF_REGISTER_CONTACT=\"line one
line two\"
";

fn corpus() -> Vec<Vec<u8>> {
    let mut c: Vec<&str> = vec![
        DREAMFACTORY_ENV,
        "A=x#y\nC=\"x#y\"\nE='p#q'\nB=\"${A}-dq\"\nG=${A}-2\nS='${A}-sq'\n",
        "D=\"esc\\\"q\\\\n\"\nE=  spaced  \nH=\"multi\nline\"\nexport APP_URL=x\n",
        "H=a b c\n",
        "export I=1\n",
        "export  LONGER=1\nexport\tTABBED_NAME=2\n",
        "A=1\nA\n",
        "A=1\r\nB=2\r\nC=\"x\r\ny\"\r\n",
        "A=1\rB=2\r",
        "\u{feff}A=bom\n",
        "# X=\"a\nB=1\nC=\"z\"\nD=2\n",
        "A=1\nB=\"never closed\nC=2\n",
        "=x\n",
        "A=\"a\\qb\"\n",
        "A=\"a\\tb\\$c\\f\\v\\r\"\n",
        "A=${B}\nB=b\nC=${B}${B}$B\n",
        "A=\"x\"y\n",
        "A='x' # c\nB=\"y\"#c\nC=z #c\n",
        "\"Q\"=1\n'R'=2\n\"\"=3\n",
        "A.B=1\n1=2\n",
        "A=it's\nB=say\"hi\"\n",
        "A=\\\\n\n",
        "A=\"\n\"\n",
        "A=\"a\\\\\"\nB=2\n",
        "A=\"a\\\"\nB=2\"\n",
        "A=\u{e9}t\u{e9}\nB=\"\u{2603} ${A}\"\n",
        "A=a\u{a0}b\n",
        "A=\x0cb\nB=x\x0c\n",
        "A=x\x0by\n",
        "A=\0x\n",
        "  A = 1  \n\tB\t=\t2\t\n",
        "A\n",
        "A \n",
        "A=#x\nB= #y\nC=\n",
        "A=${\nB=${}\nC=${A}}\nD=$${A}\n",
        "X=\"${X}\"\n",
        "A=x\nB=${A}\nA=y\nC=${A}\n",
    ];
    let long = format!(
        "A={}\nB=\"{} {}\"\n",
        "x".repeat(2500),
        "y".repeat(1500),
        "\u{e9}".repeat(700)
    );
    c.push(&long);
    c.into_iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn corpus_matches_phpdotenv() {
    differential(&corpus());
}

// ------------------------------------------------------------------------------------
// Generated inputs
// ------------------------------------------------------------------------------------

fn frag() -> impl Strategy<Value = String> + Clone {
    prop::sample::select(vec![
        "a", "xyz", "Q9", "\"", "'", "\\", "#", " ", "  ", "\t", "$", "${A}", "${B}", "${NOPE}",
        "${", "}", "\\n", "\\t", "\\\"", "\\$", "\\\\", "\\q", "\u{e9}", "=", "\u{a0}", "\x0c",
        "\x0b", "\0", "\"${A}\"", "'q'", "\"multi", "line\"", "\\f", "\\v", "=\"", "(", ")",
    ])
    .prop_map(String::from)
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "A",
        "B",
        "APP_KEY",
        "DB_PASSWORD",
        "X.Y",
        "1",
        "_",
        "\"A\"",
        "'B'",
        "bad-name",
        "",
        "LONG_NAME_1",
        "export A",
        "export LONGER",
        "exportXYZW",
        "a b",
    ])
    .prop_map(String::from)
}

fn ws() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "", "", " ", "\t", "  "]).prop_map(String::from)
}

fn line() -> impl Strategy<Value = String> {
    let value = || prop::collection::vec(frag(), 0..6).prop_map(|v| v.concat());
    prop_oneof![
        6 => (ws(), name(), ws(), ws(), value(), ws())
            .prop_map(|(a, n, b, c, v, d)| format!("{a}{n}{b}={c}{v}{d}")),
        1 => (name(), ws()).prop_map(|(n, w)| format!("{n}{w}")),
        1 => value().prop_map(|v| format!("#{v}")),
        1 => ws(),
        1 => value(),
        1 => "[A-C=\"'#$ {}\\\\a-c\\t]{0,24}",
    ]
}

fn file() -> impl Strategy<Value = Vec<u8>> {
    let eol = prop::sample::select(vec!["\n", "\n", "\n", "\r\n", "\r"]);
    (
        prop::collection::vec((line(), eol), 1..8),
        any::<bool>(),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(lines, final_eol, bom)| {
            let mut s = String::new();
            if bom {
                s.push('\u{feff}');
            }
            let n = lines.len();
            for (i, (l, e)) in lines.into_iter().enumerate() {
                s.push_str(&l);
                if i + 1 < n || final_eol {
                    s.push_str(e);
                }
            }
            s.into_bytes()
        })
}

fn edit_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{0,8}",
        prop::collection::vec(frag(), 0..5).prop_map(|v| v.concat()),
        "\\PC{0,6}",
        Just("line1\nline2\r\n".to_string()),
    ]
}

fn runner() -> TestRunner {
    let seed: u64 = std::env::var("DFKIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00df_0e4f);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

fn cases() -> usize {
    std::env::var("DFKIT_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

/// Generated files: both parsers agree on every one (accepted or not, and the values).
#[test]
fn fuzzed_files_match_phpdotenv() {
    let mut r = runner();
    let strat = file();
    let inputs: Vec<Vec<u8>> = (0..cases())
        .map(|_| strat.new_tree(&mut r).unwrap().current())
        .collect();
    let accepted = inputs.iter().filter(|i| ours(i).is_ok()).count();
    // Both outcomes must be well represented, or the test proves little.
    assert!(
        accepted > inputs.len() / 5 && accepted < inputs.len() * 4 / 5,
        "accepted {accepted}"
    );
    differential(&inputs);
}

/// Files dfkit edited read back, in phpdotenv, with the new value — and the same values
/// everywhere else as dfkit says.
#[test]
fn edited_files_match_phpdotenv() {
    let mut r = runner();
    let strat = (file(), name(), edit_value());
    let mut inputs = Vec::new();
    let mut expect = Vec::new();
    while inputs.len() < cases() / 2 {
        let (bytes, key, value) = strat.new_tree(&mut r).unwrap().current();
        let Ok(mut env) = EnvFile::parse_inner(&bytes) else {
            continue;
        };
        // Edit an existing key half the time.
        let key = match env.vars().first() {
            Some((k, _)) if inputs.len() % 2 == 0 => k.clone(),
            _ => key,
        };
        if let Err(e) = env.set(&key, &value) {
            // Only invalid names may be refused, or an addition after an unclosed quote
            // (Laravel ignores the rest of the file).
            let valid = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
            assert!(
                !valid || (e.kind.exit_code() == 65 && e.message.contains("never closed")),
                "set({key:?}, {value:?}) refused on {:?}",
                String::from_utf8_lossy(&bytes)
            );
            continue;
        }
        assert_eq!(env.get(&key), Some(value.as_str()));
        expect.push((key, value));
        inputs.push(env.bytes().to_vec());
    }
    let php = php_batch(&inputs);
    for ((input, theirs), (key, value)) in inputs.iter().zip(&php).zip(&expect) {
        let vars = theirs.as_ref().unwrap_or_else(|e| {
            panic!(
                "phpdotenv rejects an edited file ({e}): {:?}",
                String::from_utf8_lossy(input)
            )
        });
        assert_eq!(
            vars.get(key)
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            Some(value.clone()),
            "edited file {:?}",
            String::from_utf8_lossy(input)
        );
    }
    differential(&inputs);
}
