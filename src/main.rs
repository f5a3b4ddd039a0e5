//! The command line: parse arguments, set up logging, call into the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use upwatch::api::dto::StateResponse;
use upwatch::check;
use upwatch::config::Settings;
use upwatch::domain::audit::AuditState;
use upwatch::domain::token::{Scope, TokenName};
use upwatch::manifest_file;
use upwatch::remote::Remote;
use upwatch::replay::ReplayOptions;
use upwatch::startup::{self, Application};
use upwatch::telemetry;

// glibc's malloc showed large in the pipeline's profiles (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc asks the kernel for transparent huge pages, and then each
/// stretch it reuses after purging it faults in as a 2 MiB page zeroed in
/// full: 6 % of the scheduler thread's time at everyday load, and 25 MiB of
/// RSS (BENCHMARKS.md, "Fewer wake-ups"). Ordinary pages cost less here.
fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: could not turn transparent huge pages off: {error}");
    }
}

/// upwatch: a distributed service-health monitor.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run upwatch: every role in one process unless --roles says otherwise.
    Serve {
        /// Comma-separated roles: api, scheduler, worker, folder (or all).
        #[arg(long)]
        roles: Option<String>,
    },
    /// Apply database migrations, then exit.
    Migrate,
    /// Replay the event log and print each monitor's rebuilt state as JSON lines.
    Replay {
        /// Only this monitor (its id).
        #[arg(long)]
        monitor: Option<String>,
        /// Only events recorded up to this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Compare with the projection; exit 1 naming every monitor that differs.
        #[arg(long)]
        verify: bool,
    },
    /// Create, list or revoke API tokens (straight in the database).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Apply a monitors file (YAML, JSON or TOML) through the API, in one
    /// transaction; print the plan: + create, ~ update, - delete, = unchanged.
    Apply {
        /// The file: `{monitors: [...], channels: [...]}` or `{services: [...]}`.
        file: std::path::PathBuf,
        /// Also delete the monitors and channels the file does not name.
        #[arg(long)]
        prune: bool,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Print every monitor and channel as a monitors file (applies back unchanged).
    Export {
        /// yaml, json or toml.
        #[arg(long, default_value = "yaml")]
        format: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Probe one URL now, print the result as JSON; exit 0 if up, 1 if down.
    Check {
        /// Absolute http, https or tcp URL.
        url: String,
        /// How long the whole request may take (100–60000).
        #[arg(long, default_value_t = 5000, allow_negative_numbers = true)]
        timeout_ms: i64,
        /// A condition every answer must meet, e.g. `[BODY].status == UP` (repeatable).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        /// A request header, `Name: value` (repeatable; HTTP only).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// GET, HEAD or POST (HTTP only).
        #[arg(long)]
        method: Option<String>,
        /// The request body (with --method POST).
        #[arg(long)]
        body: Option<String>,
        /// The version the answer's `[BODY].version` should report; the line says `drift`.
        #[arg(long)]
        expected_version: Option<String>,
    },
}

/// Which API `apply` and `export` talk to.
#[derive(clap::Args)]
struct RemoteArgs {
    /// The API's base URL.
    #[arg(long, env = "UPWATCH_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A token with write scope (read for export), when auth is on.
    #[arg(long, env = "UPWATCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl RemoteArgs {
    fn remote(&self) -> upwatch::remote::Remote {
        upwatch::remote::Remote {
            server: self.server.clone(),
            token: self.token.clone(),
        }
    }
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret, once, on standard output.
    Create {
        /// The token's name: the actor its changes are recorded under.
        name: String,
        /// read, write or admin.
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// List the live tokens: name, scope, creation time.
    List,
    /// Revoke a token; every API process refuses it within a second.
    Revoke { name: String },
}

/// Exit status for a setting that cannot be used.
const EXIT_BAD_SETTING: u8 = 2;

fn main() -> ExitCode {
    without_transparent_huge_pages();
    let cli = Cli::parse();
    if let Command::Check {
        url,
        timeout_ms,
        conditions,
        headers,
        method,
        body,
        expected_version,
    } = &cli.command
    {
        return check(&check::CheckArgs {
            url: url.clone(),
            timeout_ms: *timeout_ms,
            conditions: conditions.clone(),
            headers: headers.clone(),
            method: method.clone(),
            body: body.clone(),
            expected_version: expected_version.clone(),
        });
    }
    match &cli.command {
        Command::Apply {
            file,
            prune,
            dry_run,
            remote,
        } => return apply(file, *prune, *dry_run, &remote.remote()),
        Command::Export { format, remote } => return export(format, &remote.remote()),
        _ => {}
    }
    let replay_options = match &cli.command {
        Command::Replay {
            monitor,
            until,
            verify,
        } => match replay_options(monitor.as_deref(), until.as_deref(), *verify) {
            Ok(options) => Some(options),
            Err(message) => {
                eprintln!("upwatch: {message}");
                return ExitCode::from(EXIT_BAD_SETTING);
            }
        },
        _ => None,
    };
    let roles = match &cli.command {
        Command::Serve { roles } => roles.as_deref(),
        _ => None,
    };
    let settings = match Settings::from_env(roles) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("upwatch: {error}");
            return ExitCode::from(EXIT_BAD_SETTING);
        }
    };
    // A server logs to standard output; a one-shot command keeps it for its
    // own output (a token's secret, replayed states) and logs to stderr.
    if matches!(cli.command, Command::Serve { .. }) {
        telemetry::init(telemetry::subscriber("upwatch", "info", std::io::stdout));
    } else {
        telemetry::init(telemetry::subscriber("upwatch", "warn", std::io::stderr));
    }

    let outcome = actix_web::rt::System::new().block_on(async move {
        match cli.command {
            Command::Serve { .. } => {
                let app = Application::build(settings).await?;
                app.run_until_stopped()
                    .await
                    .map_err(|e| anyhow::anyhow!("the server stopped with an error: {e}"))
            }
            Command::Migrate => {
                let applied = startup::migrate(&settings).await?;
                println!(
                    "migrations applied: {}; schema at version {}",
                    applied.len(),
                    upwatch::store::migrations::latest_known_version()
                );
                Ok(())
            }
            Command::Replay { .. } => {
                let options = replay_options.unwrap_or_default();
                let mismatches = startup::replay(&settings, options, |state| {
                    println!("{}", replay_line(state, options.until));
                })
                .await?;
                for mismatch in &mismatches {
                    eprintln!(
                        "upwatch: monitor {} differs from its projection: {}",
                        mismatch.monitor_id,
                        mismatch.differences.join("; ")
                    );
                }
                if mismatches.is_empty() {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "{} monitor(s) differ from the log: {}",
                        mismatches.len(),
                        mismatches
                            .iter()
                            .map(|m| m.monitor_id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
            Command::Token { command } => token(&settings, command).await,
            Command::Check { .. } | Command::Apply { .. } | Command::Export { .. } => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error)
            if error
                .downcast_ref::<startup::StartupError>()
                .is_some_and(startup::StartupError::is_setting) =>
        {
            eprintln!("upwatch: {error}");
            ExitCode::from(EXIT_BAD_SETTING)
        }
        Err(error) => {
            tracing::error!(error = %error, "upwatch stopped");
            eprintln!("upwatch: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `upwatch apply`: exit 0 when applied (or planned), 1 when refused, 2
/// when the file cannot be read.
fn apply(file: &std::path::Path, prune: bool, dry_run: bool, remote: &Remote) -> ExitCode {
    let content = match manifest_file::read(file) {
        Ok(content) => content,
        Err(message) => {
            eprintln!("upwatch: {message}");
            return ExitCode::from(EXIT_BAD_SETTING);
        }
    };
    let answer = actix_web::rt::System::new().block_on(remote.apply(&content, prune, dry_run));
    match answer {
        Ok(answer) => {
            for line in upwatch::remote::plan_lines(&answer) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("upwatch: {} was not applied: {message}", file.display());
            ExitCode::FAILURE
        }
    }
}

/// `upwatch export`: the monitors file, on standard output.
fn export(format: &str, remote: &Remote) -> ExitCode {
    let format = match manifest_file::Format::parse(format) {
        Ok(format) => format,
        Err(message) => {
            eprintln!("upwatch: --format: {message}");
            return ExitCode::from(EXIT_BAD_SETTING);
        }
    };
    let exported = actix_web::rt::System::new()
        .block_on(remote.export())
        .and_then(|file| manifest_file::encode(&file, format));
    match exported {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("upwatch: cannot export: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    let name = |raw: &str| TokenName::parse(raw).map_err(|e| anyhow::anyhow!("the token name {e}"));
    match command {
        TokenCommand::Create { name: raw, scope } => {
            let name = name(&raw)?;
            let scope = Scope::parse(&scope).map_err(|e| anyhow::anyhow!("--scope {e}"))?;
            let secret = startup::create_token(settings, name, scope).await?;
            eprintln!(
                "upwatch: token `{raw}` ({scope}) created; this is the only time it is shown"
            );
            println!("{}", secret.reveal());
        }
        TokenCommand::List => {
            for token in startup::list_tokens(settings).await? {
                let created = token
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                println!("{}\t{}\t{created}", token.name, token.scope);
            }
        }
        TokenCommand::Revoke { name: raw } => {
            startup::revoke_token(settings, &name(&raw)?).await?;
            eprintln!("upwatch: token `{raw}` revoked");
        }
    }
    Ok(())
}

/// `upwatch check`: one probe with the same code and classification the
/// workers use.
fn check(args: &check::CheckArgs) -> ExitCode {
    let url = args.url.as_str();
    let spec = match check::spec(args) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("upwatch: {message}");
            return ExitCode::from(EXIT_BAD_SETTING);
        }
    };
    // The one setting a probe reads: trusted roots beyond the web's.
    let roots = match std::env::var("UPWATCH_TLS_CA_FILE") {
        Ok(path) if !path.is_empty() => {
            match upwatch::probe::tls::TrustedRoots::load(std::path::Path::new(&path)) {
                Ok(roots) => roots,
                Err(message) => {
                    eprintln!("upwatch: UPWATCH_TLS_CA_FILE {message}");
                    return ExitCode::from(EXIT_BAD_SETTING);
                }
            }
        }
        _ => upwatch::probe::tls::TrustedRoots::default(),
    };
    let outcome = actix_web::rt::System::new().block_on(async move {
        let prober = upwatch::probe::Prober::trusting(&roots)?;
        anyhow::Ok(prober.probe(&spec).await)
    });
    match outcome {
        Ok(outcome) => {
            println!(
                "{}",
                check::report(url, &outcome, args.expected_version.as_deref())
            );
            if outcome.up {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("upwatch: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn replay_options(
    monitor: Option<&str>,
    until: Option<&str>,
    verify: bool,
) -> Result<ReplayOptions, String> {
    let monitor_id = monitor
        .map(|raw| {
            uuid::Uuid::parse_str(raw)
                .map_err(|_| format!("--monitor must be a monitor id, got `{raw}`"))
        })
        .transpose()?;
    let until = until
        .map(|raw| {
            time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    format!(
                        "--until must be an RFC 3339 time such as 2026-01-01T00:00:00Z, got `{raw}`"
                    )
                })
        })
        .transpose()?;
    if verify && until.is_some() {
        return Err("--verify compares with the projection as it is now; it cannot be combined with --until".to_owned());
    }
    Ok(ReplayOptions {
        monitor_id,
        until,
        verify,
    })
}

fn replay_line(state: &AuditState, until: Option<time::OffsetDateTime>) -> String {
    serde_json::to_string(&StateResponse::new(state, until))
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot encode: {e}\"}}"))
}
