//! Notifications end to end: channels through the API, deliveries owed by
//! the folder in the transition's transaction, sent by notifiers to real
//! receivers on 127.0.0.1 (HTTP and SMTP), retried, and never lost.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{
    TestApp, assert_error, postgres_base_url, redis_url, spawn_roles, status_changes, wait_for,
};
use crate::pipeline::register;
use crate::receiver::{Receiver, SmtpReceiver};
use crate::target::Target;

const PATIENCE: Duration = Duration::from_secs(40);
const SECRET: &str = "a-secret-of-sixteen+";

async fn create_channel(app: &TestApp, body: Value) -> Value {
    let response = app
        .request(Method::POST, "/api/v1/channels", Some(&body))
        .await;
    assert_eq!(response.status(), 201, "creating {body}");
    response.json().await.unwrap()
}

async fn deliveries(app: &TestApp, path: &str) -> Vec<Value> {
    let (status, page) = app.get_json(path).await;
    assert_eq!(status, 200, "{path}: {page}");
    page["items"].as_array().unwrap().clone()
}

/// Waits until every delivery at `path` is delivered and there are `n`.
async fn wait_delivered(app: &TestApp, path: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} deliveries at {path}"), PATIENCE, || async {
        let items = deliveries(app, path).await;
        (items.len() == n && items.iter().all(|d| d["status"] == "delivered")).then_some(items)
    })
    .await
}

fn signature(body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[actix_web::test]
async fn channels_are_validated_versioned_and_recorded_without_their_secrets() {
    let app = spawn_roles("api", &[]).await;
    let body = json!({"name": "Ops hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET});
    let created = create_channel(&app, body.clone()).await;
    assert_eq!(created["has_secret"], true);
    assert_eq!(created["on"], json!(["down", "up"]));
    assert_eq!(created["match_tags"], json!([]));
    assert_eq!(created["remind_every_minutes"], Value::Null);
    assert!(created.get("secret").is_none(), "{created}");
    let id = created["id"].as_str().unwrap();

    let taken = json!({"name": "OPS HOOK", "kind": "slack", "url": "http://127.0.0.1:9/s"});
    let response = app
        .request(Method::POST, "/api/v1/channels", Some(&taken))
        .await;
    assert_error(response, 409, "conflict").await;
    for (bad, field) in [
        (json!({"name": "x", "kind": "webhook"}), "url"),
        (json!({"name": "x", "kind": "pagerduty"}), "routing_key"),
        (json!({"name": "x", "kind": "email", "to": []}), "to"),
        (
            json!({"name": "x", "kind": "webhook", "url": "http://h/", "secret": "short"}),
            "secret",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": "http://h/", "on": ["sideways"]}),
            "on",
        ),
        (json!({"name": "x", "kind": "fax"}), "kind"),
    ] {
        let response = app
            .request(Method::POST, "/api/v1/channels", Some(&bad))
            .await;
        let error = assert_error(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["field"], field, "{bad}");
    }

    let stale = app
        .http
        .patch(app.url(&format!("/api/v1/channels/{id}")))
        .header("If-Match", "\"7\"")
        .json(&json!({"match_tags": ["prod"]}))
        .send()
        .await
        .unwrap();
    assert_error(stale, 412, "precondition_failed").await;
    let patched: Value = app
        .http
        .patch(app.url(&format!("/api/v1/channels/{id}")))
        .header("If-Match", "\"1\"")
        .json(&json!({"match_tags": ["prod"], "remind_every_minutes": 30}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["has_secret"], true, "an update keeps the secret");

    for name in ["b", "c"] {
        create_channel(
            &app,
            json!({"name": name, "kind": "email", "to": ["ops@example.com"]}),
        )
        .await;
    }
    let (items, pages) = app.collect_pages("/api/v1/channels?limit=2").await;
    assert_eq!((items.len(), pages), (3, 2));

    let deleted = app
        .request(Method::DELETE, &format!("/api/v1/channels/{id}"), None)
        .await;
    assert_eq!(deleted.status(), 204);
    let (status, _) = app.get_json(&format!("/api/v1/channels/{id}")).await;
    assert_eq!(status, 404);

    let (_, log) = app.get_json("/api/v1/events?limit=100").await;
    let mine: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["aggregate_id"] == id)
        .collect();
    let types: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["channel_created", "channel_updated", "channel_deleted"]
    );
    assert!(
        mine.iter()
            .all(|e| e["aggregate_type"] == "channel" && e["actor"] == "anonymous")
    );
    assert_eq!(
        mine[1]["data"]["changed"],
        json!(["match_tags", "remind_every_minutes"])
    );
    assert!(
        !log.to_string().contains(SECRET),
        "the secret is in the event log"
    );
}

#[actix_web::test]
async fn every_transition_reaches_every_matching_channel_once() {
    let receiver = Receiver::start();
    let smtp = SmtpReceiver::start().await;
    let app = spawn_roles(
        "all",
        &[
            ("UPWATCH_PAGERDUTY_URL", receiver.url("/pagerduty")),
            ("UPWATCH_SMTP_URL", smtp.url()),
            ("UPWATCH_SMTP_FROM", "upwatch@example.com".into()),
        ],
    )
    .await;
    let target = Target::start();
    let hook = |name: &str, path: &str, extra: Value| {
        let mut body = json!({"name": name, "kind": "webhook", "url": receiver.url(path)});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let all = create_channel(&app, hook("all", "/all", json!({"secret": SECRET}))).await;
    create_channel(&app, hook("prod", "/prod", json!({"match_tags": ["prod"]}))).await;
    create_channel(&app, hook("downs", "/downs", json!({"on": ["down"]}))).await;
    create_channel(
        &app,
        hook("billing", "/billing", json!({"match_tags": ["billing"]})),
    )
    .await;
    create_channel(
        &app,
        json!({"name": "slack", "kind": "slack", "url": receiver.url("/slack")}),
    )
    .await;
    create_channel(
        &app,
        json!({"name": "pd", "kind": "pagerduty", "routing_key": "rk-1"}),
    )
    .await;
    create_channel(
        &app,
        json!({"name": "mail", "kind": "email", "to": ["ops@example.com"]}),
    )
    .await;

    let extra = json!({"failure_threshold": 1, "tags": ["prod", "eu"]});
    let id = register(&app, "checkout", &target.url("/health"), extra).await;
    let monitor_deliveries = format!("/api/v1/monitors/{id}/deliveries?limit=100");
    wait_for("the monitor to be up", PATIENCE, || async {
        let (_, m) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
        (m["status"] == "up").then_some(())
    })
    .await;
    target.answer(503);
    // all, prod, downs, slack, pd, mail: six for the down.
    wait_delivered(&app, &monitor_deliveries, 6).await;
    target.answer(200);
    // The same but downs: five for the recovery.
    let delivered = wait_delivered(&app, &monitor_deliveries, 11).await;

    let (_, events) = app
        .get_json(&format!("/api/v1/monitors/{id}/events?limit=100"))
        .await;
    let changes = status_changes(&events);
    let seq_of = |to: &str| {
        changes
            .iter()
            .find(|e| e["data"]["to"] == to && e["data"]["from"] != "unknown")
            .map(|e| e["seq"].clone())
            .unwrap()
    };
    let (down_seq, up_seq) = (seq_of("down"), seq_of("up"));
    let mut per_kind: HashMap<String, HashSet<String>> = HashMap::new();
    for d in &delivered {
        let expected_seq = if d["kind"] == "down" {
            &down_seq
        } else {
            &up_seq
        };
        assert_eq!(&d["event_seq"], expected_seq, "{d}");
        assert_eq!(d["attempts"], 1, "{d}");
        per_kind
            .entry(d["kind"].as_str().unwrap().to_owned())
            .or_default()
            .insert(d["channel_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(per_kind["down"].len(), 6, "one down per channel");
    assert_eq!(per_kind["up"].len(), 5, "one up per channel that wants it");

    let signed = receiver.received_at("/all");
    assert_eq!(signed.len(), 2, "exactly one request per transition");
    for request in &signed {
        assert_eq!(
            request.header("x-upwatch-signature"),
            Some(signature(&request.body).as_str())
        );
        let body = request.json();
        assert_eq!(request.header("x-upwatch-event"), body["kind"].as_str());
        assert_eq!(request.delivery_id(), body["delivery_id"].as_str().unwrap());
        assert_eq!(body["monitor"]["name"], "checkout");
        assert_eq!(body["monitor"]["tags"], json!(["prod", "eu"]));
    }
    let (first, second) = (signed[0].json(), signed[1].json());
    assert_eq!(
        (&first["from"], &first["to"], &first["seq"]),
        (&json!("up"), &json!("down"), &down_seq)
    );
    assert_eq!(
        (&second["from"], &second["to"], &second["seq"]),
        (&json!("down"), &json!("up"), &up_seq)
    );
    assert_eq!(first["error"], "status 503", "{first}");
    assert_eq!(first["http_status"], 503);
    assert_eq!(receiver.received_at("/prod").len(), 2);
    assert_eq!(receiver.received_at("/downs").len(), 1);
    assert!(
        receiver.received_at("/billing").is_empty(),
        "match_tags must exclude it"
    );
    assert!(
        receiver.received_at("/prod")[0]
            .header("x-upwatch-signature")
            .is_none()
    );

    let slack: Vec<Value> = receiver
        .received_at("/slack")
        .iter()
        .map(|r| r.json())
        .collect();
    assert!(
        slack[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("checkout is DOWN"),
        "{}",
        slack[0]
    );
    assert!(
        slack[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("checkout is UP"),
        "{}",
        slack[1]
    );
    let pd: Vec<Value> = receiver
        .received_at("/pagerduty")
        .iter()
        .map(|r| r.json())
        .collect();
    let actions: Vec<&str> = pd
        .iter()
        .map(|e| e["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"]);
    assert!(
        pd.iter()
            .all(|e| e["dedup_key"] == format!("upwatch-{id}") && e["routing_key"] == "rk-1")
    );
    assert_eq!(pd[0]["payload"]["severity"], "critical");
    assert_eq!(pd[0]["payload"]["source"], target.url("/health"));
    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(
        mail[0].contains("Subject: [upwatch] checkout is DOWN"),
        "{}",
        mail[0]
    );
    assert!(
        mail[1].contains("Subject: [upwatch] checkout is UP"),
        "{}",
        mail[1]
    );
    assert!(
        mail[0].contains("text/plain") && mail[0].contains("text/html"),
        "{}",
        mail[0]
    );

    let all_id = all["id"].as_str().unwrap();
    let of_all = deliveries(
        &app,
        &format!("/api/v1/channels/{all_id}/deliveries?status=delivered"),
    )
    .await;
    let kinds: Vec<&str> = of_all.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["up", "down"], "newest first");
    let pending = deliveries(
        &app,
        &format!("/api/v1/channels/{all_id}/deliveries?status=pending"),
    )
    .await;
    assert!(pending.is_empty());
    let response = app
        .request(
            Method::GET,
            &format!("/api/v1/channels/{all_id}/deliveries?status=lost"),
            None,
        )
        .await;
    assert_error(response, 422, "validation_failed").await;
}

#[actix_web::test]
async fn a_failing_receiver_gets_the_same_delivery_until_it_answers_2xx() {
    let receiver = Receiver::start();
    let app = spawn_roles("api,notifier", &[]).await;
    let channel = create_channel(
        &app,
        json!({"name": "flaky", "kind": "webhook", "url": receiver.url("/hook")}),
    )
    .await;
    let id = channel["id"].as_str().unwrap();
    receiver.plan(&[(503, Some("1")), (429, None)]);

    let response = app.post_empty(&format!("/api/v1/channels/{id}/test")).await;
    assert_eq!(response.status(), 200);
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["kind"], "test");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["attempts"], 1);
    assert!(
        first["last_error"].as_str().unwrap().contains("503"),
        "{first}"
    );
    assert!(first["next_attempt_at"].is_string(), "{first}");

    let done = wait_delivered(&app, &format!("/api/v1/channels/{id}/deliveries"), 1).await;
    assert_eq!(done[0]["id"], first["id"]);
    assert_eq!(done[0]["attempts"], 3);
    assert!(done[0]["delivered_at"].is_string());
    let received = receiver.received_at("/hook");
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r.delivery_id() == first["id"].as_str().unwrap())
    );
    assert_eq!(received[0].json()["monitor"], Value::Null);
}

#[actix_web::test]
async fn a_receiver_that_refuses_with_400_fails_the_delivery_at_once() {
    let receiver = Receiver::start();
    let app = spawn_roles("api,notifier", &[]).await;
    receiver.answer(400);
    let channel = create_channel(
        &app,
        json!({"name": "wrong", "kind": "slack", "url": receiver.url("/s")}),
    )
    .await;
    let id = channel["id"].as_str().unwrap();
    let delivery: Value = app
        .post_empty(&format!("/api/v1/channels/{id}/test"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(delivery["status"], "failed");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert!(
        delivery["last_error"].as_str().unwrap().contains("400"),
        "{delivery}"
    );
    assert_eq!(receiver.received().len(), 1, "a 400 is not retried");
    let failed = deliveries(
        &app,
        &format!("/api/v1/channels/{id}/deliveries?status=failed"),
    )
    .await;
    assert_eq!(failed.len(), 1);
    let unknown = app
        .post_empty(&format!("/api/v1/channels/{}/test", uuid::Uuid::now_v7()))
        .await;
    assert_error(unknown, 404, "not_found").await;
}

#[actix_web::test]
async fn deliveries_owed_while_no_notifier_runs_go_out_when_one_starts() {
    let receiver = Receiver::start();
    let app = spawn_roles("api,scheduler,worker,folder", &[]).await;
    let channel = create_channel(
        &app,
        json!({"name": "later", "kind": "webhook", "url": receiver.url("/later")}),
    )
    .await;
    let channel_id = channel["id"].as_str().unwrap();
    let target = Target::start();
    target.answer(500);
    register(
        &app,
        "broken",
        &target.url("/health"),
        json!({"failure_threshold": 1}),
    )
    .await;
    let path = format!("/api/v1/channels/{channel_id}/deliveries");
    let owed = wait_for("a delivery to be owed", PATIENCE, || async {
        let items = deliveries(&app, &path).await;
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(owed[0]["status"], "pending");
    assert_eq!(owed[0]["attempts"], 0);
    assert!(receiver.received().is_empty());

    let mut settings = app.settings.clone();
    settings.roles = upwatch::config::Roles::parse("notifier").unwrap();
    let notifier = upwatch::startup::Application::build(settings)
        .await
        .unwrap();
    actix_web::rt::spawn(notifier.run_until_stopped());
    let delivered = wait_delivered(&app, &path, 1).await;
    assert_eq!(delivered[0]["id"], owed[0]["id"]);
    assert_eq!(receiver.received_at("/later").len(), 1);
}

#[actix_web::test]
async fn reminders_are_owed_once_per_period_while_a_monitor_stays_down() {
    let receiver = Receiver::start();
    let app = spawn_roles("all", &[]).await;
    let channel = create_channel(
        &app,
        json!({"name": "nag", "kind": "webhook", "url": receiver.url("/nag"), "remind_every_minutes": 5}),
    )
    .await;
    let channel_id = channel["id"].as_str().unwrap();
    let target = Target::start();
    target.answer(500);
    register(
        &app,
        "down-for-long",
        &target.url("/health"),
        json!({"failure_threshold": 1}),
    )
    .await;
    let path = format!("/api/v1/channels/{channel_id}/deliveries");
    wait_delivered(&app, &path, 1).await;

    let pool = upwatch::store::database::pool(&app.settings.database, 1).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let owe = |minutes: i64| {
        upwatch::store::deliveries::owe_reminders(&pool, now + time::Duration::minutes(minutes))
    };
    assert_eq!(owe(3).await.unwrap(), 0, "not a period yet");
    assert_eq!(owe(6).await.unwrap(), 1);
    assert_eq!(owe(7).await.unwrap(), 0, "one per period");
    assert_eq!(owe(11).await.unwrap(), 1);
    let all = wait_delivered(&app, &path, 3).await;
    let kinds: Vec<&str> = all.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "reminder").count(), 2);
    assert_ne!(all[0]["id"], all[1]["id"]);
    let reminders: Vec<_> = receiver
        .received_at("/nag")
        .into_iter()
        .filter(|r| r.header("x-upwatch-event") == Some("reminder"))
        .collect();
    assert_eq!(reminders.len(), 2);
    assert_eq!(reminders[0].json()["to"], "down");
}

/// A `upwatch serve --roles notifier` process, killed when dropped.
struct NotifierProcess(Child);

impl NotifierProcess {
    fn start(db_name: &str, instance: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_upwatch"));
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
            command.env_remove(name);
        }
        let child = command
            .args(["serve", "--roles", "notifier"])
            .env(
                "UPWATCH_DATABASE_URL",
                format!("{}/{db_name}", postgres_base_url()),
            )
            .env("UPWATCH_REDIS_URL", redis_url())
            .env("UPWATCH_KEY_PREFIX", format!("upwatch-test-{instance}"))
            .env("UPWATCH_INSTANCE", instance)
            .env("UPWATCH_NOTIFY_CONCURRENCY", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        Self(child)
    }
}

impl Drop for NotifierProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn three_notifiers_and_a_sigkill_still_deliver_everything_one_attempt_at_a_time() {
    let receiver = Receiver::start();
    receiver.delay(Duration::from_millis(1500));
    let app = spawn_roles("api", &[]).await;
    let channel = create_channel(
        &app,
        json!({"name": "busy", "kind": "webhook", "url": receiver.url("/busy")}),
    )
    .await;
    let channel_id: uuid::Uuid = channel["id"].as_str().unwrap().parse().unwrap();
    let db = app.db().await;
    let owed: Vec<uuid::Uuid> = (0..40).map(|_| uuid::Uuid::new_v4()).collect();
    db.execute(
        "INSERT INTO deliveries (id, channel_id, kind) SELECT unnest($1::uuid[]), $2, 'test'",
        &[&owed, &channel_id],
    )
    .await
    .unwrap();

    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let start = |n: usize| NotifierProcess::start(&app.db_name, &format!("notifier-{n}-{suffix}"));
    // The victim starts alone, so the first four requests (its concurrency)
    // are surely its own; the other two join while those are still open.
    let mut victim = start(0);
    wait_for("the first notifier to start sending", PATIENCE, || async {
        (receiver.received().len() >= 4).then_some(())
    })
    .await;
    let _others: Vec<NotifierProcess> = (1..3).map(start).collect();
    victim.0.kill().unwrap(); // SIGKILL, mid-send: its claims must come back.
    victim.0.wait().unwrap();

    let path = "/api/v1/channels/".to_owned() + &channel_id.to_string() + "/deliveries?limit=100";
    let delivered = wait_for(
        "every delivery to be delivered",
        Duration::from_secs(90),
        || async {
            let items = deliveries(&app, &path).await;
            (items.len() == owed.len() && items.iter().all(|d| d["status"] == "delivered"))
                .then_some(items)
        },
    )
    .await;
    assert_eq!(
        receiver.overlaps(),
        0,
        "a delivery was attempted twice at once"
    );
    let received: HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.delivery_id())
        .collect();
    let expected: HashSet<String> = owed.iter().map(ToString::to_string).collect();
    assert_eq!(received, expected, "every delivery reached the receiver");
    assert!(
        delivered
            .iter()
            .all(|d| d["attempts"].as_i64().unwrap() >= 1)
    );
}

#[actix_web::test]
async fn an_unreadable_delivery_is_failed_not_claimed_forever() {
    let receiver = Receiver::start();
    let app = spawn_roles("api,notifier", &[]).await;
    let channel = create_channel(
        &app,
        json!({"name": "c", "kind": "webhook", "url": receiver.url("/c")}),
    )
    .await;
    let channel_id: uuid::Uuid = channel["id"].as_str().unwrap().parse().unwrap();
    app.db()
        .await
        .batch_execute(&format!(
            "INSERT INTO deliveries (id, channel_id, monitor_id, event_seq, kind)
             VALUES (gen_random_uuid(), '{channel_id}', gen_random_uuid(), 999999, 'down');
             NOTIFY upwatch_deliveries;"
        ))
        .await
        .unwrap();
    let path = format!("/api/v1/channels/{channel_id}/deliveries?status=failed");
    let failed = wait_for("the delivery to fail", PATIENCE, || async {
        let items = deliveries(&app, &path).await;
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("event 999999 is missing"),
        "{}",
        failed[0]
    );
    assert!(receiver.received().is_empty());
}
