//! The command line: parse arguments, set up logging, call into the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use upwatch::check;
use upwatch::config::Settings;
use upwatch::startup::{self, Application};
use upwatch::telemetry;

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
    /// Probe one URL now, print the result as JSON; exit 0 if up, 1 if down.
    Check {
        /// Absolute http or https URL.
        url: String,
        /// How long the whole request may take (100–60000).
        #[arg(long, default_value_t = 5000, allow_negative_numbers = true)]
        timeout_ms: i64,
    },
}

/// Exit status for a setting that cannot be used.
const EXIT_BAD_SETTING: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Check { url, timeout_ms } = &cli.command {
        return check(url, *timeout_ms);
    }
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
    telemetry::init(telemetry::subscriber("upwatch", "info", std::io::stdout));

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
            Command::Check { .. } => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "upwatch stopped");
            eprintln!("upwatch: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `upwatch check`: one probe with the same code and classification the
/// workers use.
fn check(url: &str, timeout_ms: i64) -> ExitCode {
    let spec = match check::spec(url, timeout_ms) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("upwatch: {message}");
            return ExitCode::from(EXIT_BAD_SETTING);
        }
    };
    let outcome = actix_web::rt::System::new().block_on(async move {
        let prober = upwatch::probe::Prober::new()?;
        anyhow::Ok(prober.probe(&spec).await)
    });
    match outcome {
        Ok(outcome) => {
            println!("{}", check::report(url, &outcome));
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
