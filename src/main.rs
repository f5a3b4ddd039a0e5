//! The command line: parse arguments, set up logging, call into the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
}

/// Exit status for a setting that cannot be used.
const EXIT_BAD_SETTING: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let roles = match &cli.command {
        Command::Serve { roles } => roles.as_deref(),
        Command::Migrate => None,
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
