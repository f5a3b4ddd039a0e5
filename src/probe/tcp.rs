//! The TCP prober: a connection opened (and closed at once); the dispatch
//! bounds it by the probe's timeout.

use super::{Answer, Finding};
use crate::domain::check::TcpCheck;

pub(super) async fn probe(check: &TcpCheck) -> Finding {
    let (host, port) = check.address();
    match tokio::net::TcpStream::connect((host.as_str(), port)).await {
        Ok(stream) => {
            drop(stream);
            Finding {
                up: true,
                answer: Answer {
                    connected: true,
                    ..Answer::default()
                },
                ..Finding::default()
            }
        }
        Err(error) => Finding::down(describe(&error)),
    }
}

/// A short, stable description of why the connection did not open.
pub(super) fn describe(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset".to_owned(),
        ErrorKind::TimedOut => "timeout".to_owned(),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "unreachable".to_owned(),
        _ if error.to_string().contains("lookup") || error.to_string().contains("resolve") => {
            "dns".to_owned()
        }
        _ => format!("connect failed: {}", error.kind()),
    }
}
