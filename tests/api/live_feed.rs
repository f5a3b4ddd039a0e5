//! The live feed over a real WebSocket: hello, transitions only, filters,
//! resuming with `after_seq`, several API processes, and slow clients.

use std::time::Duration;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use upwatch::config::Roles;
use upwatch::startup::Application;

use crate::helpers::{TestApp, spawn_pipeline, spawn_roles, status_changes, wait_for};
use crate::pipeline::{register, results, wait_for_results};
use crate::target::Target;

const PATIENCE: Duration = Duration::from_secs(30);

type Socket = Framed<awc::BoxedSocket, Codec>;

#[derive(Debug)]
enum Received {
    Message(Value),
    Closed(Option<String>),
    Nothing,
}

pub(crate) async fn open(address: &str, query: &str) -> Socket {
    let url = format!("{}/api/v1/ws{query}", address.replace("http://", "ws://"));
    let (response, socket) = awc::Client::new()
        .ws(url)
        .max_frame_size(1 << 20)
        .connect()
        .await
        .expect("the WebSocket opens");
    assert_eq!(response.status(), 101);
    socket
}

/// The next JSON message, answering pings; `Nothing` if none comes `within`.
async fn receive(socket: &mut Socket, within: Duration) -> Received {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Received::Nothing,
            Ok(None) => return Received::Closed(None),
            Ok(Some(frame)) => frame.expect("a valid frame"),
        };
        match frame {
            Frame::Text(text) => return Received::Message(serde_json::from_slice(&text).unwrap()),
            Frame::Ping(payload) => socket.send(Message::Pong(payload)).await.unwrap(),
            Frame::Close(reason) => return Received::Closed(reason.and_then(|r| r.description)),
            _ => {}
        }
    }
}

pub(crate) async fn message(socket: &mut Socket) -> Value {
    match receive(socket, PATIENCE).await {
        Received::Message(value) => value,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub(crate) async fn hello(socket: &mut Socket) -> i64 {
    let hello = message(socket).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    hello["last_seq"].as_i64().unwrap()
}

fn moves(messages: &[Value]) -> Vec<(String, String, String)> {
    messages
        .iter()
        .map(|m| {
            assert_eq!(m["type"], "transition", "{m}");
            (
                m["name"].as_str().unwrap().to_owned(),
                m["from"].as_str().unwrap().to_owned(),
                m["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn step(name: &str, from: &str, to: &str) -> (String, String, String) {
    (name.to_owned(), from.to_owned(), to.to_owned())
}

/// The `status_changed` events of the whole log after `after_seq`.
async fn logged_transitions(app: &TestApp, after_seq: i64) -> Vec<Value> {
    let (_, page) = app
        .get_json(&format!("/api/v1/events?after_seq={after_seq}&limit=1000"))
        .await;
    status_changes(&page)
}

async fn wait_for_status(app: &TestApp, id: &str, wanted: &str) {
    wait_for(&format!("{id} to be {wanted}"), PATIENCE, || async {
        let (_, body) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
        (body["status"] == wanted).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn a_client_gets_exactly_the_transitions_of_a_flipping_monitor() {
    let app = spawn_pipeline(&[]).await;
    let mut socket = open(&app.address, "").await;
    let last_seq = hello(&mut socket).await;
    assert_eq!(last_seq, 0);

    let target = Target::start();
    let thresholds = json!({"failure_threshold": 2, "recovery_threshold": 2});
    let id = register(&app, "flappy", &target.url("/health"), thresholds).await;
    wait_for_status(&app, &id, "up").await;
    target.answer(503);
    wait_for_status(&app, &id, "down").await;
    target.answer(200);
    wait_for_status(&app, &id, "up").await;

    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(message(&mut socket).await);
    }
    assert_eq!(
        moves(&received),
        [
            step("flappy", "unknown", "up"),
            step("flappy", "up", "down"),
            step("flappy", "down", "up")
        ]
    );
    let logged = logged_transitions(&app, 0).await;
    let seqs: Vec<&Value> = received.iter().map(|m| &m["seq"]).collect();
    let logged_seqs: Vec<&Value> = logged.iter().map(|e| &e["seq"]).collect();
    assert_eq!(seqs, logged_seqs);
    assert_eq!(received[1]["error"], "status 503");
    assert_eq!(received[1]["http_status"], 503);
    assert_eq!(received[1]["at"], logged[1]["data"]["checked_at"]);

    // Probes that change nothing send nothing.
    let so_far = results(&app, &id).await.len();
    wait_for_results(&app, &id, so_far + 2).await;
    assert!(
        matches!(
            receive(&mut socket, Duration::from_millis(300)).await,
            Received::Nothing
        ),
        "a probe without a change was sent"
    );
}

#[actix_web::test]
async fn filters_by_monitor_id_and_by_tag() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let web = register(
        &app,
        "web",
        &target.url("/status/500"),
        json!({"tags": ["prod", "web"], "failure_threshold": 1}),
    )
    .await;
    let mut by_id = open(&app.address, &format!("?monitor_id={web}")).await;
    let mut by_tag = open(&app.address, "?tag=db").await;
    let mut everything = open(&app.address, "").await;
    for socket in [&mut by_id, &mut by_tag, &mut everything] {
        hello(socket).await;
    }
    let db = register(
        &app,
        "db",
        &target.url("/status/200"),
        json!({"tags": ["prod", "db"]}),
    )
    .await;
    wait_for_status(&app, &web, "down").await;
    wait_for_status(&app, &db, "up").await;

    assert_eq!(
        moves(&[message(&mut by_id).await]),
        [step("web", "unknown", "down")]
    );
    assert_eq!(
        moves(&[message(&mut by_tag).await]),
        [step("db", "unknown", "up")]
    );
    let mut both = moves(&[
        message(&mut everything).await,
        message(&mut everything).await,
    ]);
    both.sort();
    assert_eq!(
        both,
        [step("db", "unknown", "up"), step("web", "unknown", "down")]
    );
    for socket in [&mut by_id, &mut by_tag] {
        assert!(matches!(
            receive(socket, Duration::from_millis(300)).await,
            Received::Nothing
        ));
    }
}

#[actix_web::test]
async fn resuming_with_after_seq_gets_every_missed_transition_once_then_live_ones() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let mut socket = open(&app.address, "").await;
    let seen_up_to = hello(&mut socket).await;
    drop(socket);

    // While the client is away, two monitors change status.
    let one = register(&app, "one", &target.url("/status/200"), json!({})).await;
    let two = register(
        &app,
        "two",
        &target.url("/status/500"),
        json!({"failure_threshold": 1}),
    )
    .await;
    wait_for_status(&app, &one, "up").await;
    wait_for_status(&app, &two, "down").await;

    let mut socket = open(&app.address, &format!("?after_seq={seen_up_to}")).await;
    let last_seq = hello(&mut socket).await;
    let missed = logged_transitions(&app, seen_up_to).await;
    assert_eq!(missed.len(), 2);
    assert!(last_seq >= missed[1]["seq"].as_i64().unwrap());
    let replayed = [message(&mut socket).await, message(&mut socket).await];
    let replayed_seqs: Vec<&Value> = replayed.iter().map(|m| &m["seq"]).collect();
    let missed_seqs: Vec<&Value> = missed.iter().map(|e| &e["seq"]).collect();
    assert_eq!(replayed_seqs, missed_seqs, "oldest first, each once");

    // Then live: a new transition arrives, once.
    let response = app
        .patch_monitor(&two, &json!({"url": target.url("/status/200")}), None)
        .await;
    assert_eq!(response.status(), 200);
    let live = message(&mut socket).await;
    assert_eq!(
        moves(std::slice::from_ref(&live)),
        [step("two", "down", "up")]
    );
    assert!(live["seq"].as_i64().unwrap() > replayed[1]["seq"].as_i64().unwrap());
    assert!(matches!(
        receive(&mut socket, Duration::from_millis(300)).await,
        Received::Nothing
    ));
}

#[actix_web::test]
async fn every_api_process_delivers_a_transition_produced_once() {
    let app = spawn_pipeline(&[]).await;
    let mut settings = app.settings.clone();
    settings.roles = Roles::parse("api").unwrap();
    let second = Application::build(settings).await.unwrap();
    let second_address = format!("http://127.0.0.1:{}", second.port().unwrap());
    actix_web::rt::spawn(second.run_until_stopped());

    let mut first_client = open(&app.address, "").await;
    let mut second_client = open(&second_address, "").await;
    hello(&mut first_client).await;
    hello(&mut second_client).await;
    let target = Target::start();
    register(&app, "shared", &target.url("/status/200"), json!({})).await;

    let a = message(&mut first_client).await;
    let b = message(&mut second_client).await;
    assert_eq!(a, b);
    assert_eq!(moves(&[a]), [step("shared", "unknown", "up")]);
}

#[actix_web::test]
async fn bad_queries_get_the_contract_error_before_any_upgrade() {
    let app = spawn_roles("api", &[]).await;
    for (query, field) in [
        ("?monitor_id=nope", "monitor_id"),
        ("?tag=Not%20A%20Tag", "tag"),
        ("?after_seq=-1", "after_seq"),
        ("?after_seq=1&after_seq=2", "after_seq"),
    ] {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/ws{query}")))
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        let body = crate::helpers::assert_error(response, 422, "validation_failed").await;
        assert_eq!(body["error"]["field"], field, "{query}");
    }
    let plain = app.http.get(app.url("/api/v1/ws")).send().await.unwrap();
    crate::helpers::assert_error(plain, 426, "upgrade_required").await;
}

fn synthetic(seq: i64, padding: &str) -> upwatch::domain::feed::TransitionMessage {
    upwatch::domain::feed::TransitionMessage {
        seq,
        monitor_id: uuid::Uuid::from_u128(1),
        name: "synthetic".into(),
        from: upwatch::domain::Status::Up,
        to: upwatch::domain::Status::Down,
        at: time::OffsetDateTime::now_utc(),
        reason: padding.to_owned(),
        latency_ms: 1,
        http_status: None,
        error: None,
        tags: vec![],
    }
}

#[actix_web::test]
async fn a_slow_client_is_dropped_while_a_fast_one_keeps_getting_messages() {
    let app = spawn_roles("api", &[("UPWATCH_FEED_BUFFER", "200".into())]).await;
    let mut fast = open(&app.address, "").await;
    let mut slow = open(&app.address, "").await;
    hello(&mut fast).await;
    hello(&mut slow).await;
    let pool = upwatch::queue::pool(
        &upwatch::config::RedisUrl::parse(&crate::helpers::redis_url()).unwrap(),
        1,
    )
    .unwrap();
    let keys = upwatch::queue::keys::Keys::new(
        &upwatch::config::KeyPrefix::parse(&app.key_prefix).unwrap(),
    );
    // Big messages, so the slow client's socket buffers fill in a few rounds.
    let padding = "x".repeat(10_000);
    let (rounds, per_round) = (40, 100);
    let mut received = 0;
    for round in 0..rounds {
        let batch: Vec<_> = (0..per_round)
            .map(|n| {
                upwatch::queue::transitions::FeedItem::Transition(synthetic(
                    round * per_round + n + 1,
                    &padding,
                ))
            })
            .collect();
        upwatch::queue::transitions::publish(&mut pool.get().await.unwrap(), &keys, &batch)
            .await
            .unwrap();
        // The fast client takes each round before the next one comes.
        for _ in 0..per_round {
            let m = message(&mut fast).await;
            received += 1;
            assert_eq!(m["seq"], received, "in order, none skipped");
        }
    }
    assert_eq!(received, rounds * per_round);

    // The slow client finds what was buffered for it, then the reason it was dropped.
    let mut slow_got = 0;
    let reason = loop {
        match receive(&mut slow, PATIENCE).await {
            Received::Message(_) => slow_got += 1,
            Received::Closed(reason) => break reason,
            Received::Nothing => panic!("the slow client was never closed"),
        }
    };
    assert!(
        slow_got < rounds * per_round,
        "the slow client got everything"
    );
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("too slow")),
        "{reason:?}"
    );
}
