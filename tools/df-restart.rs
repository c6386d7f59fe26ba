//! df-restart — test the configuration, restart php-fpm and the web server, prove it worked.
use clap::{Parser, ValueEnum};
use dfkit::report::Common;
use dfkit::restart::{self, Via};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Copy, Clone, Debug, ValueEnum)]
enum ViaArg {
    Auto,
    Systemd,
    Service,
    Initd,
    Docker,
    Kubernetes,
}

impl From<ViaArg> for Via {
    fn from(v: ViaArg) -> Via {
        match v {
            ViaArg::Auto => Via::Auto,
            ViaArg::Systemd => Via::Systemd,
            ViaArg::Service => Via::Service,
            ViaArg::Initd => Via::Initd,
            ViaArg::Docker => Via::Docker,
            ViaArg::Kubernetes => Via::Kubernetes,
        }
    }
}

const EXAMPLES: &str = "\
Examples:
  # Restart the installed web server and php-fpm; prove the site answers 200
  df-restart

  # After an upgrade: restart, and require the new version on /status
  df-restart --url http://127.0.0.1/status --expect-body 7.7.0

  # Which master processes were replaced
  df-restart -q | jq -c '.data.services[] | {name, pid_before, pid_after}'

  # What would run (after the checks a real run makes), without restarting anything
  df-restart --dry-run | jq -r '.data.plan[] | .command // .detail'

  # A graceful reload that keeps serving (same master PIDs), probing over https
  df-restart --reload --url https://df.example.com/status --ca-file /etc/ssl/private-ca.pem

  # Docker and Kubernetes installs
  df-restart --via docker --container df-docker-web-1 --url http://127.0.0.1:8080/
  df-restart --via kubernetes --deployment dreamfactory --namespace df --no-probe

Exit codes: 0 restarted (and healthy); 78 a configuration test failed (nothing restarted);
1 a restart command failed; 69 a program is missing or the site never became healthy.";

/// Test the web server's and php-fpm's configuration, restart them (php-fpm first),
/// report each master PID before and after, then probe a URL until it is healthy.
/// A restart always counts as a change.
#[derive(Parser, Debug)]
#[command(name = "df-restart", version, after_help = EXAMPLES)]
struct Args {
    /// Service to restart: auto (the installed web server plus php-fpm), nginx, apache2,
    /// apache2-NAME (a Debian Apache instance, /etc/apache2-NAME), httpd, php-fpm (the
    /// installed version) or phpX.Y-fpm; repeatable
    #[arg(long = "service", value_name = "NAME")]
    services: Vec<String>,
    /// How to restart: auto = systemd if it runs, else `service`, else /etc/init.d
    #[arg(long, value_enum, default_value = "auto")]
    via: ViaArg,
    /// The container to restart (--via docker)
    #[arg(long, value_name = "NAME")]
    container: Option<String>,
    /// The deployment to restart (--via kubernetes)
    #[arg(long, value_name = "NAME")]
    deployment: Option<String>,
    /// The deployment's namespace (--via kubernetes)
    #[arg(long, value_name = "NS", default_value = "default")]
    namespace: String,
    /// The URL to probe after the restart (http:// or https://)
    #[arg(long, default_value = "http://127.0.0.1/")]
    url: String,
    /// Trust the CA certificates (PEM) in this file for an https:// --url, instead of
    /// the system's roots (a private or self-signed CA)
    #[arg(long, value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Do not verify the certificate of an https:// --url (the report says so)
    #[arg(long, conflicts_with = "ca_file")]
    insecure: bool,
    /// Reload gracefully instead of restarting: nginx re-reads its configuration and
    /// replaces its workers, php-fpm re-executes its master, Apache restarts gracefully;
    /// the masters keep their PIDs and the site keeps serving
    #[arg(long)]
    reload: bool,
    /// The status that counts as healthy
    #[arg(long, default_value_t = 200, value_name = "CODE")]
    expect_status: u16,
    /// Text the healthy response's body must contain (e.g. the new version)
    #[arg(long, value_name = "TEXT")]
    expect_body: Option<String>,
    /// How long to keep probing (30, 30s, 500ms, 2m)
    #[arg(long, default_value = "30s", value_parser = dfkit::duration::parse, value_name = "DURATION")]
    timeout: Duration,
    /// Limit for each restart command, and kubectl's `rollout status --timeout`
    #[arg(long, default_value = "120s", value_parser = dfkit::duration::parse, value_name = "DURATION")]
    restart_timeout: Duration,
    /// Skip the health probe
    #[arg(long)]
    no_probe: bool,
    #[command(flatten)]
    common: Common,
}

dfkit::has_common!(Args);

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-restart", |ctx, a| {
        let probe = if a.no_probe {
            None
        } else {
            Some(restart::probe_from(
                &a.url,
                a.expect_status,
                a.expect_body,
                a.timeout,
                dfkit::http::Tls {
                    ca_file: a.ca_file,
                    insecure: a.insecure,
                },
            )?)
        };
        let opts = restart::Options {
            services: a.services,
            via: a.via.into(),
            container: a.container,
            deployment: a.deployment,
            namespace: a.namespace,
            mode: if a.reload {
                restart::Mode::Reload
            } else {
                restart::Mode::Restart
            },
            probe,
            restart_timeout: a.restart_timeout,
        };
        restart::run(ctx, &opts)
    })
}
