use std::process::{Command, Output};

use upwatch::store::migrations;

use crate::helpers::{DatabaseGuard, connect, postgres_base_url, test_settings};

pub(crate) fn upwatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upwatch"));
    command.args(args);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Arguments, environment, and the setting the error must name.
type BadStart<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn an_invalid_setting_stops_the_process_with_one_line_and_status_2() {
    let cases: [BadStart; 4] = [
        (&["serve"], &[("UPWATCH_BIND", "nonsense")], "UPWATCH_BIND"),
        (
            &["serve"],
            &[("UPWATCH_DATABASE_URL", "mysql://x")],
            "UPWATCH_DATABASE_URL",
        ),
        (&["serve", "--roles", "api,chef"], &[], "--roles"),
        (
            &["migrate"],
            &[("UPWATCH_CONFIG", "/nonexistent/upwatch.toml")],
            "UPWATCH_CONFIG",
        ),
    ];
    for (args, env, setting) in cases {
        let output = upwatch(args, env);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
        let message = stderr(&output);
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
        assert!(message.contains(setting), "{message}");
    }
}

#[test]
fn unreachable_postgres_is_retried_then_reported_with_status_1() {
    let output = upwatch(
        &["serve"],
        &[
            (
                "UPWATCH_DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/upwatch",
            ),
            ("UPWATCH_STARTUP_TIMEOUT_SECONDS", "1"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("PostgreSQL did not answer"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(
        logs.matches("failed, retrying").count() >= 2 && logs.contains("waiting for PostgreSQL"),
        "each attempt is logged: {logs}"
    );
}

#[test]
fn migrate_creates_the_database_and_can_run_again() {
    let (_, db_name, _) = test_settings(&[]);
    let _guard = DatabaseGuard(db_name.clone());
    let url = format!("{}/{db_name}", postgres_base_url());
    for _ in 0..2 {
        let output = upwatch(&["migrate"], &[("UPWATCH_DATABASE_URL", &url)]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
}

#[actix_web::test]
async fn concurrent_migrations_take_turns() {
    let (settings, db_name, _) = test_settings(&[]);
    let _guard = DatabaseGuard(db_name.clone());
    upwatch::store::database::prepare_database(&settings.database, settings.startup_timeout)
        .await
        .unwrap();
    let runs = (0..4).map(|_| migrations::run(&settings.database));
    let outcomes = futures_util::future::join_all(runs).await;
    let applied: usize = outcomes.into_iter().map(|o| o.unwrap().len()).sum();
    assert_eq!(
        applied,
        usize::try_from(migrations::latest_known_version()).unwrap()
    );
    let db = connect(&db_name).await;
    let rows: i64 = db
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(migrations::latest_known_version()));
}

#[actix_web::test]
async fn a_schema_newer_than_the_binary_is_refused() {
    let (_, db_name, _) = test_settings(&[]);
    let _guard = DatabaseGuard(db_name.clone());
    let url = format!("{}/{db_name}", postgres_base_url());
    assert_eq!(
        upwatch(&["migrate"], &[("UPWATCH_DATABASE_URL", &url)])
            .status
            .code(),
        Some(0)
    );
    connect(&db_name)
        .await
        .batch_execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (999, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
        )
        .await
        .unwrap();
    for args in [&["migrate"][..], &["serve", "--roles", "api"][..]] {
        let output = upwatch(
            args,
            &[
                ("UPWATCH_DATABASE_URL", &url),
                ("UPWATCH_BIND", "127.0.0.1:0"),
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let message = stderr(&output);
        assert!(message.contains("version 999"), "{message}");
        assert!(message.contains("newer"), "{message}");
    }
}
